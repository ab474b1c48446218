import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, encodeAdapter, isPeftkitError, type ModelGraph } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, logits, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import lora from '@peftkit/lora';
import { type RawTensor, safetensorsBytes } from '../../../test/support/safetensors-bytes.ts';

// PEFT interchange: an adapter written byte by byte here (independently of peftkit's writer) must load and act
// exactly as the LoRA formula says; what peftkit saves must have PEFT's keys, shapes and config.

const warnings: string[] = [];
const kernel = await createKernel({ logger: { warn: (m) => void warnings.push(m), info() {} } });
kernel.use(lora);
const tf = kernel.tf;
const ids = tinyBatch(2, 5);

const R = 4;
const ALPHA = 8;
const D = 16;
const OUT = { q_proj: 16, v_proj: 8 } as const;

/** Deterministic, non-trivial values for A and B. */
function values(n: number, seed: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => scale * Math.sin(0.7 * i + seed));
}

function peftTensors(): RawTensor[] {
  const out: RawTensor[] = [];
  for (let layer = 0; layer < 2; layer++) {
    for (const [proj, rows] of Object.entries(OUT)) {
      const key = `base_model.model.model.layers.${layer}.self_attn.${proj}`;
      const seed = layer * 10 + rows;
      out.push({ name: `${key}.lora_A.weight`, shape: [R, D], data: values(R * D, seed, 0.3) });
      out.push({ name: `${key}.lora_B.weight`, shape: [rows, R], data: values(rows * R, seed + 5, 0.2) });
    }
  }
  return out;
}

/** A real PEFT 0.14-style adapter_config.json, plus one key from a future version. */
function peftConfig(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: 'tiny-llama',
    bias: 'none',
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: ALPHA,
    lora_bias: false,
    lora_dropout: 0.05,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: R,
    rank_pattern: {},
    revision: null,
    target_modules: ['v_proj', 'q_proj'],
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: false,
    ...extra,
  });
}

/** ΔW = (α/r)·B·A added into the base weights in plain JS: the model every adapter forward must reproduce. */
function addDeltaByHand(model: ModelGraph, tensors: readonly RawTensor[]): void {
  for (const a of tensors.filter((t) => t.name.endsWith('lora_A.weight'))) {
    const b = tensors.find((t) => t.name === a.name.replace('lora_A', 'lora_B')) as RawTensor;
    const siteName = a.name.slice('base_model.model.'.length, -'.lora_A.weight'.length);
    const site = model.site(siteName);
    assert.ok(site?.kind === 'linear');
    const [out] = b.shape as [number, number];
    const w = site.base.weightOutIn();
    const next = Float32Array.from(w.dataSync());
    w.dispose();
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < D; i++) {
        let sum = 0;
        for (let k = 0; k < R; k++) sum += (b.data[o * R + k] as number) * (a.data[k * D + i] as number);
        next[o * D + i] = (next[o * D + i] as number) + (ALPHA / R) * sum;
      }
    }
    const t = tf.tensor2d(next, [out, D]);
    site.base.assignOutIn(t);
    t.dispose();
  }
}

test('a hand-written PEFT adapter loads and changes logits exactly as W + (α/r)·B·A', () => {
  const tensors = peftTensors();
  warnings.length = 0;
  const saved = decodeAdapter(tf, peftConfig({ some_future_field: { x: 1 } }), safetensorsBytes(tensors));
  const model = createTinyLlama(tf, { seed: 7 });
  const manager = kernel.adapters(model);
  manager.load('peft', saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  assert.ok(
    warnings.some((w) => w.includes('some_future_field')),
    'unknown key warned about',
  );
  assert.equal(warnings.length, 1, `only the unknown key is warned about: ${warnings.join(' | ')}`);

  const reference = createTinyLlama(tf, { seed: 7 });
  addDeltaByHand(reference, tensors);
  const expected = logits(reference, ids);
  const got = logits(model, ids, { active: ['peft'] });
  assert.ok(maxAbsDiff(got, logits(model, ids)) > 1e-2, 'the adapter changes the output');
  assert.ok(maxAbsDiff(got, expected) < 1e-4, `adapter forward = merged-by-hand model (${maxAbsDiff(got, expected)})`);

  // One projection on its own: hook output − base output = x·Aᵀ·Bᵀ·(α/r), computed here in plain JS.
  const site = model.site('model.layers.1.self_attn.v_proj');
  assert.ok(site?.kind === 'linear');
  const x = values(3 * D, 3, 1);
  const a = tensors.find((t) => t.name.endsWith('layers.1.self_attn.v_proj.lora_A.weight')) as RawTensor;
  const b = tensors.find((t) => t.name.endsWith('layers.1.self_attn.v_proj.lora_B.weight')) as RawTensor;
  const delta = tf.tidy(() => {
    const x3 = tf.tensor3d(x, [1, 3, D]);
    const y3 = tf.zeros([1, 3, 8]) as ReturnType<typeof tf.tensor3d>;
    const hook = site.hooks.get('peft');
    assert.ok(hook);
    return hook
      .apply(x3, y3, { groups: [{ adapters: ['peft'], rows: null }], batchSize: 1, training: false, rng: null })
      .dataSync();
  });
  for (let n = 0; n < 3; n++) {
    for (let o = 0; o < 8; o++) {
      let sum = 0;
      for (let k = 0; k < R; k++) {
        let ax = 0;
        for (let i = 0; i < D; i++) ax += (a.data[k * D + i] as number) * (x[n * D + i] as number);
        sum += (b.data[o * R + k] as number) * ax;
      }
      assert.ok(Math.abs((delta[n * 8 + o] as number) - (ALPHA / R) * sum) < 1e-5);
    }
  }

  // Saving it again gives back the same tensors under the same keys.
  const again = manager.save('peft');
  assert.deepEqual(Object.keys(again.tensors).sort(), tensors.map((t) => t.name).sort());
  for (const t of tensors)
    assert.deepEqual(Float32Array.from((again.tensors[t.name] as { dataSync(): Float32Array }).dataSync()), t.data);
  for (const t of Object.values(again.tensors)) t.dispose();
  manager.dispose();
  model.dispose();
  reference.dispose();
});

test('saved Llama adapters have PEFT keys, shapes and a sorted adapter_config.json', () => {
  const model = createTinyLlama(tf, { seed: 3 });
  const manager = kernel.adapters(model);
  manager.create('x', 'lora', {});
  const saved = manager.save('x');
  const shapes = Object.fromEntries(Object.entries(saved.tensors).map(([k, t]) => [k, t.shape]));
  const expected: Record<string, number[]> = {};
  for (let layer = 0; layer < 2; layer++) {
    for (const [proj, rows] of Object.entries(OUT)) {
      expected[`base_model.model.model.layers.${layer}.self_attn.${proj}.lora_A.weight`] = [8, D];
      expected[`base_model.model.model.layers.${layer}.self_attn.${proj}.lora_B.weight`] = [rows, 8];
    }
  }
  assert.deepEqual(shapes, expected);
  const encoded = encodeAdapter(saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  const config = JSON.parse(encoded.config) as Record<string, unknown>;
  assert.deepEqual(Object.keys(config), Object.keys(config).sort(), 'keys sorted');
  assert.equal(config.inference_mode, true);
  assert.equal(config.peft_type, 'LORA');
  assert.equal(config.task_type, 'CAUSAL_LM');
  assert.equal(config.peft_version, 'peftkit-lora@0.1.0');
  assert.deepEqual(config.target_modules, ['q_proj', 'v_proj'], 'the architecture default is written out');
  assert.equal(config.r, 8);
  assert.equal(config.lora_alpha, 8);
  assert.match(encoded.config, /^\{\n {2}"alpha_pattern": \{\},\n/);
  manager.dispose();
  model.dispose();
});

test('missing or misshaped tensors fail with coded errors and leave nothing attached', () => {
  const model = createTinyLlama(tf, { seed: 3 });
  const manager = kernel.adapters(model);
  const before = tf.memory().numTensors;
  const cases: [RawTensor[], string][] = [
    [
      peftTensors().filter((t) => !t.name.includes('layers.1.self_attn.q_proj.lora_B')),
      'PEFTKIT_E_ADAPTER_KEY_MISSING',
    ],
    [
      peftTensors().map((t) => (t.name.includes('layers.0.self_attn.v_proj.lora_A') ? { ...t, shape: [D, R] } : t)),
      'PEFTKIT_E_ADAPTER_KEY_SHAPE',
    ],
  ];
  for (const [tensors, code] of cases) {
    const saved = decodeAdapter(tf, peftConfig(), safetensorsBytes(tensors));
    assert.throws(
      () => manager.load('bad', saved),
      (e) =>
        isPeftkitError(e, code) &&
        /base_model\.model\.model\.layers\.\d\.self_attn\.[qv]_proj\.lora_[AB]\.weight/.test(e.message),
    );
    for (const t of Object.values(saved.tensors)) t.dispose();
    assert.equal(manager.has('bad'), false);
    for (const site of model.sites()) assert.equal(site.hooks.size, 0, `no hook left on ${site.name}`);
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  }
  const unsupported = decodeAdapter(tf, peftConfig({ lora_bias: true }), safetensorsBytes(peftTensors()));
  assert.throws(
    () => manager.load('bad', unsupported),
    (e) => isPeftkitError(e, 'PEFTKIT_E_ADAPTER_CONFIG'),
  );
  for (const t of Object.values(unsupported.tensors)) t.dispose();
  model.dispose();
});

test('save → load keeps embedding factors and DoRA magnitudes under PEFT names', () => {
  const cases: [Record<string, unknown>, Record<string, number[]>][] = [
    [
      { target_modules: ['embed_tokens', 'o_proj'], r: 2 },
      {
        'model.embed_tokens.lora_embedding_A': [2, 64],
        'model.embed_tokens.lora_embedding_B': [16, 2],
        'model.layers.1.self_attn.o_proj.lora_A.weight': [2, 16],
      },
    ],
    [
      { target_modules: ['o_proj'], r: 2, use_dora: true },
      { 'model.layers.1.self_attn.o_proj.lora_magnitude_vector': [16] },
    ],
  ];
  for (const [config, expected] of cases) {
    const model = createTinyLlama(tf, { seed: 5 });
    const manager = kernel.adapters(model);
    perturb(tf, manager.create('d', 'lora', config).handle.trainableVariables, 3);
    const saved = manager.save('d');
    for (const [key, shape] of Object.entries(expected))
      assert.deepEqual(saved.tensors[`base_model.model.${key}`]?.shape, shape, key);
    assert.equal(saved.config.use_dora, config.use_dora === true);
    const encoded = encodeAdapter(saved);
    for (const t of Object.values(saved.tensors)) t.dispose();
    const other = createTinyLlama(tf, { seed: 5 });
    const target = kernel.adapters(other);
    const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
    target.load('copy', decoded);
    for (const t of Object.values(decoded.tensors)) t.dispose();
    assert.ok(maxAbsDiff(logits(model, ids, { active: ['d'] }), logits(other, ids, { active: ['copy'] })) <= 1e-6);
    assert.ok(maxAbsDiff(logits(model, ids, { active: ['d'] }), logits(model, ids)) > 1e-3);
    assert.throws(
      () => manager.create('e', 'lora', { target_modules: ['embed_tokens'], use_dora: true }),
      (e) => isPeftkitError(e, 'PEFTKIT_E_CONFIG_INVALID'),
    );
    manager.dispose();
    target.dispose();
    model.dispose();
    other.dispose();
  }
});
