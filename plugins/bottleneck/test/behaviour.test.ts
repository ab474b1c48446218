import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError, type ModelGraph, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { BertModel } from '@peftkit/models';
import {
  createTinyLlama,
  logits,
  maxAbsDiff,
  maxParameterDiff,
  perturb,
  snapshotParameters,
  tinyBatch,
} from '@peftkit/testing';
import bottleneck, { type BottleneckHandle, parameterCount } from '@peftkit/bottleneck';

// Initialisation schemes, sizes, placement, config validation and training behaviour.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(bottleneck);
const tf = kernel.tf;
const ids = tinyBatch(3, 6);

const bertConfig = (hidden: number, layers = 2) => ({
  model_type: 'bert',
  hidden_size: hidden,
  num_hidden_layers: layers,
  num_attention_heads: 4,
  intermediate_size: 32,
  vocab_size: 64,
  max_position_embeddings: 16,
  type_vocab_size: 2,
  id2label: { 0: 'a', 1: 'b' },
});

function withAdapter<T>(model: ModelGraph, config: Record<string, unknown>, body: (handle: BottleneckHandle) => T): T {
  const manager = kernel.adapters(model);
  try {
    return body(manager.create('a', 'bottleneck', config).handle as BottleneckHandle);
  } finally {
    manager.dispose();
    model.dispose();
  }
}

test('init mam_adapter is an exact identity (Llama and BERT); houlsby is near it; bert is not', () => {
  for (const make of [
    () => createTinyLlama(tf),
    () => new BertModel(tf, bertConfig(16), { kind: 'random', rng: new Rng(1), std: 0.2 }),
  ]) {
    const diff = (config: Record<string, unknown>) => {
      const model = make();
      const base = logits(model as never, ids);
      return withAdapter(model, config, () => maxAbsDiff(base, logits(model as never, ids, { active: ['a'] })));
    };
    assert.equal(diff({ preset: 'houlsby', init_weights: 'mam_adapter' }), 0, 'mam_adapter: identical logits');
    assert.equal(
      diff({ preset: 'pfeiffer', init_weights: 'mam', ln_before: true }),
      0,
      'mam with ln_before: identical logits',
    );
    const houlsby = diff({ preset: 'houlsby', init_weights: 'houlsby' });
    const bert = diff({ preset: 'houlsby', init_weights: 'bert', reduction_factor: 2 });
    assert.ok(houlsby > 0 && houlsby < bert, `houlsby init ${houlsby} is closer to identity than bert init ${bert}`);
  }
});

test(
  'init value distributions follow AdapterHub (bert N(0,0.02), houlsby truncated N(0,0.01) in ±0.02, ' +
    'mam U(±1/√d) and zero up)',
  () => {
    const model = createTinyLlama(tf);
    const manager = kernel.adapters(model);
    const layer = (name: string, init: string) =>
      (
        manager.create(name, 'bottleneck', { preset: 'pfeiffer', reduction_factor: 0.25, init_weights: init })
          .handle as BottleneckHandle
      ).layers[0];
    const std = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    const bert = layer('b', 'bert');
    const houlsby = layer('h', 'houlsby');
    const mam = layer('m', 'mam_adapter');
    assert.ok(bert && houlsby && mam, 'layers exist');
    assert.equal(bert.bottleneck, 64, 'reduction_factor 0.25 gives an up-projection of 16·4');
    const bd = bert.down.dataSync() as Float32Array;
    assert.ok(Math.abs(std(bd) - 0.02) < 0.002, `bert std ${std(bd)}`);
    const hd = houlsby.down.dataSync() as Float32Array;
    assert.ok(
      hd.every((v) => Math.abs(v) <= 0.02) && Math.abs(std(hd) - 0.0088) < 0.001,
      `houlsby truncated std ${std(hd)} (0.01 truncated at 2σ ≈ 0.0088)`,
    );
    const md = mam.down.dataSync() as Float32Array;
    assert.ok(md.every((v) => Math.abs(v) <= 1 / 4) && Math.max(...md.map(Math.abs)) > 0.2, 'mam down U(±1/√16)');
    assert.ok(
      (mam.up.dataSync() as Float32Array).every((v) => v === 0),
      'mam up is zero',
    );
    for (const l of [bert, houlsby, mam])
      assert.ok(
        [...l.downBias.dataSync(), ...l.upBias.dataSync()].every((v) => v === 0),
        'biases start at zero',
      );
    manager.dispose();
    model.dispose();
  },
);

test(
  'sizes: BERT-base width, reduction 16 → 74,544 parameters per adapter (Pfeiffer 1 site, ' + 'Houlsby 2 per layer)',
  () => {
    const count = (preset: string) =>
      withAdapter(
        new BertModel(tf, { ...bertConfig(768, 1), num_attention_heads: 12 }, { kind: 'random', rng: new Rng(1) }),
        { preset },
        (h) => parameterCount(h),
      );
    // down 768→48 with bias + up 48→768 with bias, computed independently of the plugin.
    const perSite = 768 * 48 + 48 + 48 * 768 + 768;
    assert.equal(perSite, 74_544, 'the Houlsby paper figure');
    assert.equal(count('pfeiffer'), perSite, 'Pfeiffer: one adapter per layer');
    assert.equal(count('houlsby'), 2 * perSite, 'Houlsby: two adapters per layer');
  },
);

test('placement: presets, leave_out and per-layer reduction_factor', () => {
  const sites = (config: Record<string, unknown>) =>
    withAdapter(createTinyLlama(tf), config, (h) => h.layers.map((l) => `${l.site.name}:${l.bottleneck}`));
  assert.deepEqual(sites({}), ['model.layers.0.mlp:1', 'model.layers.1.mlp:1'], 'default seq_bn: after the FFN, 16/16');
  assert.deepEqual(sites({ preset: 'houlsby', reduction_factor: 4 }), [
    'model.layers.0.self_attn:4',
    'model.layers.0.mlp:4',
    'model.layers.1.self_attn:4',
    'model.layers.1.mlp:4',
  ]);
  assert.deepEqual(sites({ preset: 'houlsby', reduction_factor: { '1': 2, default: 8 }, leave_out: [0] }), [
    'model.layers.1.self_attn:8',
    'model.layers.1.mlp:8',
  ]);
  assert.deepEqual(sites({ preset: 'pfeiffer', mh_adapter: true, output_adapter: false, reduction_factor: 3 }), [
    'model.layers.0.self_attn:5',
    'model.layers.1.self_attn:5',
  ]);
});

test('config validation: coded errors, nothing left attached', () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  const before = tf.memory().numTensors;
  const cases: [string, Record<string, unknown>][] = [
    ['PEFTKIT_E_CONFIG_INVALID', { original_ln_after: false }],
    ['PEFTKIT_E_CONFIG_INVALID', { reduction_factor: 0 }],
    ['PEFTKIT_E_CONFIG_INVALID', { reduction_factor: { first: 2 } }],
    ['PEFTKIT_E_CONFIG_INVALID', { non_linearity: 'softplus' }],
    ['PEFTKIT_E_CONFIG_INVALID', { is_parallel: true }],
    ['PEFTKIT_E_BOTTLENECK_CONFIG', { reduction_factor: { '0': 2 } }],
    ['PEFTKIT_E_BOTTLENECK_CONFIG', { reduction_factor: { '7': 2, default: 2 } }],
    ['PEFTKIT_E_BOTTLENECK_CONFIG', { residual_before_ln: 'post_add' }],
    ['PEFTKIT_E_BOTTLENECK_CONFIG', { preset: 'houlsby', residual_before_ln: 'post_add' }],
    ['PEFTKIT_E_BOTTLENECK_CONFIG', { leave_out: [0, 1] }],
  ];
  for (const [code, config] of cases) {
    assert.throws(
      () => manager.create('x', 'bottleneck', config),
      (e) => isPeftkitError(e, code),
      `${JSON.stringify(config)} → ${code}`,
    );
  }
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
  for (const site of model.sites()) assert.equal(site.hooks.size, 0, `no hook left on ${site.name}`);
  assert.doesNotThrow(
    () => manager.create('ok', 'bottleneck', { non_linearity: 'ReLU', reduction_factor: { '0': 2 }, leave_out: [1] }),
    'AdapterHub accepts upper-case names; a mapping only needs the adapted layers',
  );
  manager.dispose();
  model.dispose();
});

test('training: loss falls, only adapter variables get gradients, the base is bit-identical, numTensors flat', () => {
  const model = createTinyLlama(tf, { seed: 4 });
  const manager = kernel.adapters(model);
  const vars = manager.create('t', 'bottleneck', {
    preset: 'houlsby',
    reduction_factor: 4,
    ln_after: true,
    dropout: 0.1,
  }).handle.trainableVariables;
  const base = snapshotParameters(model);
  const rows = tinyBatch(2, 8, 5);
  const inputs = rows.map((r) => r.slice(0, -1));
  const targets = tf.tensor2d(
    rows.map((r) => r.slice(1)),
    undefined,
    'int32',
  );
  const rng = new Rng(1);
  const losses: number[] = [];
  let tensors = 0;
  for (let step = 0; step < 8; step++) {
    const { value, grads } = tf.variableGrads(() => {
      const out = model.forward({ ids: inputs }, { selection: { active: ['t'] }, training: true, rng });
      return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(targets, 64), tf.logSoftmax(out)), -1))) as ReturnType<
        typeof tf.scalar
      >;
    }, [...vars]);
    assert.equal(Object.keys(grads).length, vars.length, 'a gradient for every adapter variable');
    for (const v of vars) tf.tidy(() => v.assign(tf.sub(v, tf.mul(grads[v.name] as never, 0.2))));
    losses.push(value.dataSync()[0] as number);
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
    if (step === 1) tensors = tf.memory().numTensors;
    if (step > 1) assert.equal(tf.memory().numTensors, tensors, `numTensors flat at step ${step}`);
  }
  targets.dispose();
  assert.ok((losses.at(-1) as number) < (losses[0] as number) - 0.05, `loss ${losses[0]} → ${losses.at(-1)}`);
  assert.equal(maxParameterDiff(model, base), 0, 'frozen base');
  manager.dispose();
  model.dispose();
});

test('dropout only while training, masks from the call rng; mixed batch with dropout off equals per-row', () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  perturb(tf, manager.create('d', 'bottleneck', { reduction_factor: 4, dropout: 0.5 }).handle.trainableVariables, 2);
  const run = (options: Record<string, unknown>) =>
    tf.tidy(() => Array.from(model.forward({ ids }, { selection: { active: ['d'] }, ...options }).dataSync()));
  assert.deepEqual(run({ training: false, rng: new Rng(3) }), run({}), 'no dropout at inference');
  assert.deepEqual(
    run({ training: true, rng: new Rng(3) }),
    run({ training: true, rng: new Rng(3) }),
    'same seed, same masks',
  );
  assert.notDeepEqual(run({ training: true, rng: new Rng(3) }), run({}), 'dropout acts while training');
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) logits(model, ids, { perRow: ['d', null, 'd'] });
  assert.equal(tf.memory().numTensors, before, 'numTensors flat across mixed-batch forwards');
  manager.dispose();
  model.dispose();
});
