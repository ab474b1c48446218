import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, disposeSaved, encodeAdapter, isPeftkitError } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, logits, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import prefixTuning, { type PrefixHandle } from '@peftkit/prefix-tuning';
import { type RawTensor, safetensorsBytes, wave } from './helpers.ts';

// PEFT interchange. A PREFIX_TUNING adapter written byte by byte here must act exactly as PEFT's past_key_values
// would: the test lays prompt_embeddings out with PEFT's view(T, L·2, kv_heads, head_dim).permute(...).split(2)
// itself and feeds the result to the base model as a KV cache. What peftkit saves must be PEFT's file.

const warnings: string[] = [];
const kernel = await createKernel({ logger: { warn: (m) => void warnings.push(m), info() {} } });
kernel.use(prefixTuning);
const tf = kernel.tf;
const ids = tinyBatch(2, 5);

// Tiny Llama: hidden 16, 2 layers, 4 heads, 2 key/value heads, head_dim 4 → token_dim 8, width 2·2·8 = 32.
const T = 3;
const L = 2;
const KV = 2;
const HD = 4;
const WIDTH = L * 2 * KV * HD;

function peftConfigText(extra: Record<string, unknown> = {}): string {
  const config: Record<string, unknown> = {
    auto_mapping: null,
    base_model_name_or_path: 'tiny-llama',
    encoder_hidden_size: 8,
    inference_mode: true,
    modules_to_save: null,
    num_attention_heads: 2,
    num_layers: 2,
    num_transformer_submodules: 1,
    num_virtual_tokens: T,
    peft_type: 'PREFIX_TUNING',
    peft_version: '0.17.1',
    prefix_projection: false,
    revision: null,
    task_type: 'CAUSAL_LM',
    token_dim: 8,
    ...extra,
  };
  return JSON.stringify(config, null, 2);
}

function load(name: string, configText: string, tensors: RawTensor[], model = createTinyLlama(tf)) {
  const manager = kernel.adapters(model);
  const saved = decodeAdapter(tf, configText, safetensorsBytes(tensors));
  try {
    return { model, manager, record: manager.load(name, saved) };
  } finally {
    disposeSaved(saved);
  }
}

/** PEFT's past_key_values for one row: layer l key/value [kv_heads, T, head_dim] from prompt_embeddings [T, WIDTH]. */
function peftPastKeyValues(table: Float32Array, layer: number, part: 0 | 1): Float32Array {
  const out = new Float32Array(KV * T * HD);
  for (let h = 0; h < KV; h++) {
    for (let t = 0; t < T; t++) {
      for (let d = 0; d < HD; d++)
        out[(h * T + t) * HD + d] = table[t * WIDTH + ((layer * 2 + part) * KV + h) * HD + d] as number;
    }
  }
  return out;
}

test(
  'a byte-built PEFT PREFIX_TUNING file acts as PEFT past_key_values (GQA layout, ' + 'positions after the prefix)',
  () => {
    const table = wave(T * WIDTH, 3, 0.8);
    const { model, manager } = load('peft', peftConfigText(), [
      { name: 'prompt_embeddings', shape: [T, WIDTH], data: table },
    ]);
    const withAdapter = logits(model, ids, { active: ['peft'] });
    const cache = model.createCache();
    for (let layer = 0; layer < L; layer++) {
      const rows = (part: 0 | 1) => {
        const one = peftPastKeyValues(table, layer, part);
        const both = new Float32Array(2 * one.length);
        both.set(one, 0);
        both.set(one, one.length);
        return tf.tensor4d(both, [2, KV, T, HD]);
      };
      // The cache owns (and later disposes) what it is given.
      cache.setLayer(layer, rows(0), rows(1));
    }
    cache.keyMask = ids.map(() => new Array<number>(T).fill(1));
    cache.nextPosition = ids.map(() => T);
    cache.length = T;
    const out = model.forward({ ids }, { cache });
    const reference = (out.arraySync() as number[][][]).map((row) => Float32Array.from(row.flat()));
    out.dispose();
    cache.dispose();
    assert.ok(
      maxAbsDiff(withAdapter, reference) <= 1e-5,
      `adapter output equals the base model with PEFT's past_key_values (${maxAbsDiff(withAdapter, reference)})`,
    );
    assert.ok(maxAbsDiff(withAdapter, logits(model, ids)) > 1e-3, 'the prefix changes the output');
    manager.dispose();
    model.dispose();
  },
);

test('save writes exactly PEFT’s adapter_config.json (sorted keys) and prompt_embeddings [T, L·2·kv_dim]', () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  manager.create('mine', 'prefix-tuning', { num_virtual_tokens: T });
  const saved = manager.save('mine');
  const encoded = encodeAdapter(saved);
  const expected = `{
  "auto_mapping": null,
  "base_model_name_or_path": null,
  "encoder_hidden_size": 8,
  "inference_mode": true,
  "modules_to_save": null,
  "num_attention_heads": 2,
  "num_layers": 2,
  "num_transformer_submodules": 1,
  "num_virtual_tokens": 3,
  "peft_type": "PREFIX_TUNING",
  "peft_version": "peftkit-prefix-tuning@0.1.0",
  "prefix_projection": false,
  "revision": null,
  "task_type": "CAUSAL_LM",
  "token_dim": 8
}
`;
  assert.equal(encoded.config, expected, 'config file text');
  assert.deepEqual(Object.keys(saved.tensors), ['prompt_embeddings'], 'one tensor, no base_model prefix');
  assert.deepEqual(saved.tensors.prompt_embeddings?.shape, [T, WIDTH], 'shape [T, num_layers·2·token_dim]');
  disposeSaved(saved);
  manager.dispose();
  model.dispose();
});

test('seq-cls: the score head is a trained modules_to_save copy saved as base_model.score.weight', () => {
  const model = createTinyLlama(tf, { task: 'seq-cls', labels: ['no', 'yes'] });
  const manager = kernel.adapters(model);
  const handle = manager.create('cls', 'prefix-tuning', { num_virtual_tokens: 2 }).handle as PrefixHandle;
  assert.equal(handle.trainableVariables.length, 2, 'prefix table and the score copy (no bias)');
  perturb(tf, handle.trainableVariables, 5);
  const before = logits(model, ids, { active: ['cls'] });
  const saved = manager.save('cls');
  assert.deepEqual(Object.keys(saved.tensors).sort(), ['base_model.score.weight', 'prompt_embeddings'], 'PEFT keys');
  assert.deepEqual(saved.tensors['base_model.score.weight']?.shape, [2, 16], 'score [labels, hidden]');
  assert.deepEqual(saved.config.modules_to_save, ['classifier', 'score'], 'PEFT appends both head names');
  assert.equal(saved.config.task_type, 'SEQ_CLS', 'task type from the model');
  const encoded = encodeAdapter(saved);
  disposeSaved(saved);
  const other = createTinyLlama(tf, { task: 'seq-cls', labels: ['no', 'yes'] });
  const otherManager = kernel.adapters(other);
  const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
  otherManager.load('back', decoded);
  disposeSaved(decoded);
  assert.ok(maxAbsDiff(before, logits(other, ids, { active: ['back'] })) <= 1e-6, 'head and prefix restored');
  otherManager.dispose();
  other.dispose();
  manager.dispose();
  model.dispose();
});

test('prefix_projection: prompt_embeddings is tanh-MLP(embedding), checked against a plain-JS forward', () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  const H = 5;
  const handle = manager.create('mlp', 'prefix-tuning', {
    num_virtual_tokens: T,
    prefix_projection: true,
    encoder_hidden_size: H,
  }).handle as PrefixHandle;
  const p = handle.encoder.projection;
  assert.ok(p !== null, 'projection built');
  const E = handle.encoder.embedding.dataSync();
  const [w1, b1, w2, b2] = [p.w1, p.b1, p.w2, p.b2].map((v) => v.dataSync());
  assert.deepEqual(handle.encoder.embedding.shape, [T, 8], 'embedding [T, token_dim]');
  const saved = manager.save('mlp');
  const got = saved.tensors.prompt_embeddings?.dataSync() as Float32Array;
  let worst = 0;
  for (let t = 0; t < T; t++) {
    const hidden = Array.from({ length: H }, (_, j) => {
      let s = b1?.[j] as number;
      for (let i = 0; i < 8; i++) s += (w1?.[j * 8 + i] as number) * (E[t * 8 + i] as number);
      return Math.tanh(s);
    });
    for (let c = 0; c < WIDTH; c++) {
      let s = b2?.[c] as number;
      for (let j = 0; j < H; j++) s += (w2?.[c * H + j] as number) * (hidden[j] as number);
      worst = Math.max(worst, Math.abs(s - (got[t * WIDTH + c] as number)));
    }
  }
  assert.ok(worst <= 1e-5, `MLP output matches (${worst})`);
  const count = handle.trainableVariables.reduce((n, v) => n + v.size, 0);
  assert.equal(count, T * 8 + 8 * H + H + H * WIDTH + WIDTH, 'embedding + Linear(8→H) + Linear(H→width)');
  disposeSaved(saved);
  manager.dispose();
  model.dispose();
});

test('trainable parameters of a flat prefix: T × L × 2 × d_kv', () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  const handle = manager.create('n', 'prefix-tuning', { num_virtual_tokens: 7 }).handle;
  assert.equal(
    handle.trainableVariables.reduce((n, v) => n + v.size, 0),
    7 * L * 2 * (KV * HD),
    'sized by key/value heads',
  );
  manager.dispose();
  model.dispose();
});

test(
  'lenient config, strict tensors: unknown keys warn; missing, ' +
    'misshaped or mismatched input fails and leaves nothing behind',
  () => {
    warnings.length = 0;
    const good = [{ name: 'prompt_embeddings', shape: [T, WIDTH], data: wave(T * WIDTH, 1, 0.5) }];
    const ok = load('future', peftConfigText({ some_future_field: 1 }), good);
    assert.ok(
      warnings.some((w) => w.includes('some_future_field')),
      'unknown key warned about',
    );
    assert.ok(
      !warnings.some((w) => w.includes('auto_mapping') || w.includes('peft_version')),
      'PEFT bookkeeping keys pass silently',
    );
    ok.manager.dispose();
    ok.model.dispose();

    const model = createTinyLlama(tf);
    const manager = kernel.adapters(model);
    const tensorsBefore = tf.memory().numTensors;
    const attempt = (code: string, configText: string, tensors: RawTensor[]) => {
      const saved = decodeAdapter(tf, configText, safetensorsBytes(tensors));
      assert.throws(
        () => manager.load('x', saved),
        (e) => isPeftkitError(e, code),
        code,
      );
      disposeSaved(saved);
      assert.equal(model.prefixes.size, 0, `${code}: no prefix hook left attached`);
      assert.equal(manager.has('x'), false, `${code}: no adapter recorded`);
      assert.equal(tf.memory().numTensors, tensorsBefore, `${code}: no tensor leaked`);
    };
    attempt('PEFTKIT_E_ADAPTER_KEY_MISSING', peftConfigText(), []);
    attempt('PEFTKIT_E_ADAPTER_KEY_SHAPE', peftConfigText(), [
      { name: 'prompt_embeddings', shape: [T, WIDTH / 2], data: wave((T * WIDTH) / 2, 1, 1) },
    ]);
    attempt('PEFTKIT_E_ADAPTER_CONFIG', peftConfigText({ token_dim: 12 }), good);
    attempt('PEFTKIT_E_ADAPTER_CONFIG', peftConfigText({ num_layers: 3 }), good);
    attempt('PEFTKIT_E_ADAPTER_CONFIG', peftConfigText({ num_transformer_submodules: 2 }), good);
    attempt('PEFTKIT_E_ADAPTER_CONFIG', peftConfigText({ num_virtual_tokens: -1 }), good);
    assert.throws(
      () => manager.create('y', 'prefix-tuning', { num_layers: 5 }),
      (e) => isPeftkitError(e, 'PEFTKIT_E_CONFIG_INVALID'),
      'create with a wrong geometry',
    );
    // token_dim given before PEFT's key/value-head adjustment (the hidden size) is accepted and saved adjusted.
    manager.create('pre', 'prefix-tuning', { token_dim: 16, num_attention_heads: 4, num_virtual_tokens: 2 });
    const saved = manager.save('pre');
    assert.equal(saved.config.token_dim, 8, 'token_dim adjusted to kv_heads × head_dim');
    assert.equal(saved.config.num_attention_heads, 2, 'num_attention_heads adjusted to kv heads');
    disposeSaved(saved);
    manager.dispose();
    model.dispose();
  },
);
