import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ForwardCall, PrefixHook, PromptHook, Tf } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { createTinyLlama, maxAbsDiff, TINY_LLAMA_CONFIG, tinyBatch } from '@peftkit/testing';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf: Tf = kernel.tf;
const rows = (t: { arraySync(): unknown }) => (t.arraySync() as number[][][]).map((r) => Float32Array.from(r.flat()));

test('tiny Llama exposes Hugging Face module names as sites', () => {
  const model = createTinyLlama(tf);
  const names = [...model.sites()].map((s) => `${s.kind}:${s.name}`);
  for (const expected of [
    'embedding:model.embed_tokens',
    'linear:model.layers.0.self_attn.q_proj',
    'linear:model.layers.1.mlp.down_proj',
    'block:model.layers.0.self_attn',
    'block:model.layers.1.mlp',
    'linear:lm_head',
  ]) {
    assert.ok(names.includes(expected), expected);
  }
  assert.ok(model.parameters().has('model.layers.0.input_layernorm.weight'));
  model.dispose();
});

test('KV-cached decoding equals full forward passes', () => {
  const model = createTinyLlama(tf);
  const ids = tinyBatch(2, 8);
  const full = model.forward({ ids });
  const expected = rows(full);
  full.dispose();
  const cache = model.createCache();
  const prefill = model.forward({ ids: ids.map((r) => r.slice(0, 5)) }, { cache });
  const got = rows(prefill).map((r) => Array.from(r));
  prefill.dispose();
  for (let t = 5; t < 8; t++) {
    const step = model.forward({ ids: ids.map((r) => [r[t] as number]) }, { cache });
    for (const [b, r] of rows(step).entries()) (got[b] as number[]).push(...r);
    step.dispose();
  }
  cache.dispose();
  assert.ok(
    maxAbsDiff(
      expected,
      got.map((r) => Float32Array.from(r)),
    ) <= 1e-5,
  );
  model.dispose();
});

test('left padding with a mask gives the same logits as the unpadded row', () => {
  const model = createTinyLlama(tf);
  const row = tinyBatch(1, 5)[0] as number[];
  const alone = model.forward({ ids: [row] });
  const padded = model.forward({ ids: [[0, 0, 0, ...row]], mask: [[0, 0, 0, 1, 1, 1, 1, 1]] });
  const a = rows(alone)[0] as Float32Array;
  const p = (rows(padded)[0] as Float32Array).slice(3 * TINY_LLAMA_CONFIG.vocab_size);
  assert.ok(maxAbsDiff([a], [p]) <= 1e-5);
  alone.dispose();
  padded.dispose();
  model.dispose();
});

function promptHook(seed: number, tokens: number): PromptHook {
  const embeds = tf.keep(tf.randomNormal([tokens, TINY_LLAMA_CONFIG.hidden_size], 0, 0.5, 'float32', seed));
  return { virtualTokens: () => embeds as never };
}

function prefixHook(seed: number, tokens: number): PrefixHook {
  const shape: [number, number, number] = [
    tokens,
    TINY_LLAMA_CONFIG.num_key_value_heads,
    TINY_LLAMA_CONFIG.hidden_size / TINY_LLAMA_CONFIG.num_attention_heads,
  ];
  const key = tf.keep(tf.randomNormal(shape, 0, 0.5, 'float32', seed));
  const value = tf.keep(tf.randomNormal(shape, 0, 0.5, 'float32', seed + 1));
  return { numVirtualTokens: tokens, prefix: (_layer: number, _call: ForwardCall) => ({ key, value }) as never };
}

test('prompt and prefix hooks: mixed batches equal per-row calls, with and without KV cache', () => {
  const model = createTinyLlama(tf);
  model.prompts.attach('p', promptHook(1, 3));
  model.prefixes.attach('x', prefixHook(2, 4));
  const ids = tinyBatch(3, 5);
  const selections = ['p', 'x', null] as const;
  const single = selections.map((name, b) => {
    const out = model.forward({ ids: [ids[b] as number[]] }, name ? { selection: { active: [name] } } : {});
    const r = rows(out)[0] as Float32Array;
    out.dispose();
    return r;
  });
  const base = model.forward({ ids: [ids[0] as number[]] });
  assert.ok(
    maxAbsDiff([rows(base)[0] as Float32Array], [single[0] as Float32Array]) > 1e-3,
    'the prompt changes the output',
  );
  base.dispose();
  const mixed = model.forward({ ids }, { selection: { perRow: [...selections] } });
  assert.ok(maxAbsDiff(rows(mixed), single) <= 1e-5, 'mixed batch equals per-row calls');
  mixed.dispose();

  const cache = model.createCache();
  const prefill = model.forward(
    { ids: ids.map((r) => r.slice(0, 3)) },
    { selection: { perRow: [...selections] }, cache },
  );
  const got = rows(prefill).map((r) => Array.from(r));
  prefill.dispose();
  for (let t = 3; t < 5; t++) {
    const step = model.forward(
      { ids: ids.map((r) => [r[t] as number]) },
      { selection: { perRow: [...selections] }, cache },
    );
    for (const [b, r] of rows(step).entries()) (got[b] as number[]).push(...r);
    step.dispose();
  }
  cache.dispose();
  assert.ok(
    maxAbsDiff(
      single,
      got.map((r) => Float32Array.from(r)),
    ) <= 1e-5,
    'cached decoding equals the full forward',
  );
  model.dispose();
});

test('forward passes leak no tensors', () => {
  const model = createTinyLlama(tf);
  const ids = tinyBatch(2, 6);
  model.forward({ ids }).dispose();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) model.forward({ ids }).dispose();
  const cache = model.createCache();
  model.forward({ ids }, { cache }).dispose();
  model.forward({ ids: [[1], [2]] }, { cache }).dispose();
  cache.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('invalid inputs give PEFTKIT_E_INPUT', () => {
  const model = createTinyLlama(tf);
  for (const input of [
    { ids: [] },
    { ids: [[]] },
    { ids: [[1, 2], [3]] },
    { ids: [[1, 999]] },
    { ids: [[1, 2]], mask: [[1]] },
    { ids: [[1.5]] },
  ]) {
    assert.throws(
      () => model.forward(input as never),
      (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_INPUT',
    );
  }
  model.dispose();
});

test('selecting an adapter the model does not have is a coded error, not a silent base run', async () => {
  const { default: lora } = await import('@peftkit/lora');
  if (!kernel.registry.has('lora')) kernel.use(lora);
  const model = createTinyLlama(kernel.tf, { seed: 5 });
  const manager = kernel.adapters(model);
  manager.create('real', 'lora', { r: 2 });
  const ids = tinyBatch(2, 4);
  const run = (selection: Parameters<typeof model.forward>[1]) =>
    kernel.tf.tidy(() => model.forward({ ids }, selection).shape);
  assert.deepEqual(
    run({ selection: { active: ['real'] } }),
    [2, 4, TINY_LLAMA_CONFIG.vocab_size],
    'a real adapter runs',
  );
  const unknown = (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_ADAPTER_UNKNOWN';
  assert.throws(() => run({ selection: { active: ['typo'] } }), unknown, 'unknown name in an active selection');
  assert.throws(() => run({ selection: { perRow: ['real', 'typo'] } }), unknown, 'unknown name in a per-row selection');
  manager.delete('real');
  assert.throws(() => run({ selection: { active: ['real'] } }), unknown, 'a deleted adapter is unknown');
  assert.deepEqual(
    run({ selection: { perRow: [null, '__base__'] } }),
    [2, 4, TINY_LLAMA_CONFIG.vocab_size],
    'base rows need no adapter',
  );
  model.dispose();
});
