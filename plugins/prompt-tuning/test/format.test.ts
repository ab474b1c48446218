import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, encodeAdapter, isPeftkitError } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import type { LlamaModel } from '@peftkit/models';
import { createTinyLlama, logits, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import promptTuning, { repeatToLength } from '@peftkit/prompt-tuning';
import { safetensorsBytes, values } from './bytes.ts';

// PEFT interchange: a PROMPT_TUNING adapter written byte by byte here must act exactly like feeding the virtual
// tokens as real tokens; what peftkit saves must have PEFT's key, shape and sorted config.

const warnings: string[] = [];
const kernel = await createKernel({ logger: { warn: (m) => void warnings.push(m), info() {} } });
kernel.use(promptTuning);
const tf = kernel.tf;
const D = 16;
const T = 3;
const ids = tinyBatch(2, 5);

/** A real PEFT 0.13-style adapter_config.json for prompt tuning, plus one key from a future version. */
function peftConfig(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    auto_mapping: null,
    base_model_name_or_path: 'tiny-llama',
    inference_mode: true,
    num_attention_heads: 4,
    num_layers: 2,
    num_transformer_submodules: 1,
    num_virtual_tokens: T,
    peft_type: 'PROMPT_TUNING',
    prompt_tuning_init: 'TEXT',
    prompt_tuning_init_text: 'Classify if the tweet is a complaint or not:',
    revision: null,
    task_type: 'CAUSAL_LM',
    token_dim: D,
    tokenizer_kwargs: null,
    tokenizer_name_or_path: 'tiny-llama',
    ...extra,
  });
}

/** Embedding rows of the given token ids, read in plain JS. */
function embeddingRows(model: LlamaModel, tokens: readonly number[]): Float32Array {
  const site = model.site('model.embed_tokens');
  assert.ok(site?.kind === 'embedding', 'the model has an embedding site');
  const all = site.weight.dataSync();
  const out = new Float32Array(tokens.length * D);
  tokens.forEach((t, i) => {
    out.set(all.subarray(t * D, (t + 1) * D), i * D);
  });
  return out;
}

test('a hand-written PEFT prompt equal to real tokens acts exactly like prepending those tokens', () => {
  const model = createTinyLlama(tf, { seed: 7 });
  const virtual = [5, 17, 42];
  warnings.length = 0;
  const saved = decodeAdapter(
    tf,
    peftConfig({ some_future_field: 1 }),
    safetensorsBytes([{ name: 'prompt_embeddings', shape: [T, D], data: embeddingRows(model, virtual) }]),
  );
  const manager = kernel.adapters(model);
  manager.load('peft', saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  assert.ok(
    warnings.some((w) => w.includes('some_future_field')),
    `unknown key warned about: ${warnings.join(' | ')}`,
  );
  assert.equal(warnings.length, 1, `only the unknown key is warned about: ${warnings.join(' | ')}`);

  const got = logits(model, ids, { active: ['peft'] });
  const longer = logits(
    model,
    ids.map((row) => [...virtual, ...row]),
  );
  const vocab = 64;
  const expected = longer.map((row) => row.slice(T * vocab));
  assert.ok(maxAbsDiff(got, logits(model, ids)) > 1e-2, 'the prompt changes the output');
  assert.ok(
    maxAbsDiff(got, expected) < 1e-4,
    `adapter forward = base forward on [virtual tokens, ids] (${maxAbsDiff(got, expected)})`,
  );

  const again = manager.save('peft');
  assert.deepEqual(Object.keys(again.tensors), ['prompt_embeddings'], 'one tensor, no base_model prefix');
  assert.deepEqual(
    Float32Array.from(again.tensors.prompt_embeddings?.dataSync() ?? []),
    embeddingRows(model, virtual),
    'saved back unchanged',
  );
  for (const t of Object.values(again.tensors)) t.dispose();
  manager.dispose();
  model.dispose();
});

test('saved adapters have PEFT keys, shapes and a sorted adapter_config.json', () => {
  const model = createTinyLlama(tf, { seed: 3 });
  const manager = kernel.adapters(model);
  manager.create('x', 'prompt-tuning', { num_virtual_tokens: 5, tokenizer_name_or_path: 'ignored/tokenizer' });
  const saved = manager.save('x');
  assert.deepEqual(saved.tensors.prompt_embeddings?.shape, [5, D], 'prompt_embeddings [num_virtual_tokens, token_dim]');
  const encoded = encodeAdapter(saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  const config = JSON.parse(encoded.config) as Record<string, unknown>;
  assert.deepEqual(Object.keys(config), Object.keys(config).sort(), 'keys sorted');
  assert.match(encoded.config, /^\{\n {2}"base_model_name_or_path": null,\n/, 'PEFT layout: indent 2');
  const expected = {
    base_model_name_or_path: null,
    inference_mode: true,
    modules_to_save: null,
    num_attention_heads: 4,
    num_layers: 2,
    num_transformer_submodules: 1,
    num_virtual_tokens: 5,
    peft_type: 'PROMPT_TUNING',
    peft_version: 'peftkit-prompt-tuning@0.1.0',
    prompt_tuning_init: 'RANDOM',
    prompt_tuning_init_text: null,
    revision: null,
    task_type: 'CAUSAL_LM',
    token_dim: D,
    tokenizer_kwargs: null,
    tokenizer_name_or_path: 'ignored/tokenizer',
  };
  assert.deepEqual(config, expected, 'config fields as PEFT writes them');
  manager.dispose();
  model.dispose();
});

test('SEQ_CLS saves the classifier copy under PEFT modules_to_save keys and restores it', () => {
  const model = createTinyLlama(tf, { seed: 3, task: 'seq-cls', labels: ['a', 'b'] });
  const manager = kernel.adapters(model);
  perturb(tf, manager.create('c', 'prompt-tuning', { num_virtual_tokens: 2 }).handle.trainableVariables, 4);
  const saved = manager.save('c');
  const shapes = Object.fromEntries(Object.entries(saved.tensors).map(([k, t]) => [k, t.shape]));
  assert.deepEqual(
    shapes,
    { prompt_embeddings: [2, D], 'base_model.score.weight': [2, D] },
    'prompt plus the score copy (no bias)',
  );
  assert.deepEqual(saved.config.modules_to_save, ['classifier', 'score'], 'PEFT adds both head names');
  assert.equal(saved.config.task_type, 'SEQ_CLS', 'task type from the model');
  const encoded = encodeAdapter(saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  const other = createTinyLlama(tf, { seed: 3, task: 'seq-cls', labels: ['a', 'b'] });
  const target = kernel.adapters(other);
  const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
  target.load('copy', decoded);
  for (const t of Object.values(decoded.tensors)) t.dispose();
  const a = logits(model, ids, { active: ['c'] });
  assert.ok(maxAbsDiff(a, logits(other, ids, { active: ['copy'] })) <= 1e-6, 'restored classifier and prompt');
  assert.ok(maxAbsDiff(a, logits(model, ids)) > 1e-3, 'the adapter changes the classification');
  const score = model.site('score');
  assert.ok(score?.kind === 'linear', 'score head exists');
  manager.dispose();
  target.dispose();
  model.dispose();
  other.dispose();
});

test('missing, misshaped or non-finite tensors fail with coded errors and leave nothing attached', () => {
  const model = createTinyLlama(tf, { seed: 3 });
  const manager = kernel.adapters(model);
  const before = tf.memory().numTensors;
  const nan = values(T * D, 1, 1);
  nan[4] = Number.NaN;
  const cases: [Parameters<typeof safetensorsBytes>[0], string, string][] = [
    [[{ name: 'other', shape: [T, D], data: values(T * D, 1, 1) }], 'PEFTKIT_E_ADAPTER_KEY_MISSING', peftConfig()],
    [
      [{ name: 'prompt_embeddings', shape: [T + 1, D], data: values((T + 1) * D, 1, 1) }],
      'PEFTKIT_E_ADAPTER_KEY_SHAPE',
      peftConfig(),
    ],
    [[{ name: 'prompt_embeddings', shape: [T, D], data: nan }], 'PEFTKIT_E_ADAPTER_NONFINITE', peftConfig()],
    [
      [{ name: 'prompt_embeddings', shape: [T, D], data: values(T * D, 1, 1) }],
      'PEFTKIT_E_CONFIG_INVALID',
      peftConfig({ token_dim: 32 }),
    ],
    [
      [{ name: 'prompt_embeddings', shape: [T, D], data: values(T * D, 1, 1) }],
      'PEFTKIT_E_ADAPTER_CONFIG',
      peftConfig({ num_virtual_tokens: -1 }),
    ],
  ];
  for (const [tensors, code, config] of cases) {
    const saved = decodeAdapter(tf, config, safetensorsBytes(tensors));
    assert.throws(
      () => manager.load('bad', saved),
      (e) => isPeftkitError(e, code),
      `expected ${code}`,
    );
    for (const t of Object.values(saved.tensors)) t.dispose();
    assert.equal(manager.has('bad'), false, 'no adapter recorded');
    assert.equal(model.prompts.size, 0, 'no prompt hook left');
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  }
  model.dispose();
});

test('TEXT init embeds the tokenizer ids, repeated or cut to num_virtual_tokens as PEFT does', () => {
  assert.deepEqual(repeatToLength([1, 2, 3], 8), [1, 2, 3, 1, 2, 3, 1, 2], 'repeated whole, then cut');
  assert.deepEqual(repeatToLength([1, 2, 3, 4, 5], 2), [1, 2], 'cut');
  const model = createTinyLlama(tf, { seed: 9 });
  // A toy tokenizer: one id per character.
  const tokenizer = { encode: (text: string) => [...text].map((ch) => ch.charCodeAt(0) % 64) };
  const manager = kernel.adapters(model, { tokenizer });
  const record = manager.create('t', 'prompt-tuning', {
    num_virtual_tokens: 7,
    prompt_tuning_init: 'TEXT',
    prompt_tuning_init_text: 'abc',
  });
  const expectedIds = [97, 98, 99, 97, 98, 99, 97].map((c) => c % 64);
  const embedding = record.handle.trainableVariables[0];
  assert.deepEqual(
    Float32Array.from(embedding?.dataSync() ?? []),
    embeddingRows(model, expectedIds),
    'rows of the repeated text ids',
  );
  const bare = createTinyLlama(tf, { seed: 9 });
  assert.throws(
    () =>
      kernel
        .adapters(bare)
        .create('u', 'prompt-tuning', { prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'abc' }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_TOKENIZER_MISSING'),
    'TEXT without a tokenizer is a coded error',
  );
  assert.equal(bare.prompts.size, 0, 'nothing attached after the failure');
  bare.dispose();
  assert.throws(
    () => manager.create('v', 'prompt-tuning', { prompt_tuning_init: 'TEXT' }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_CONFIG_INVALID'),
    'TEXT without text is rejected by the schema',
  );
  manager.dispose();
  model.dispose();
});
