import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError, type MethodPlugin, validatePluginObject } from '@peftkit/core';
import { createTestKernel, createTinyLlama, logits, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import lora, { addWeightedAdapter } from '@peftkit/lora';
import frozen, { PROJECTION_SHAPE } from './fixtures/frozen-plugin/index.ts';
import ia3 from './fixtures/ia3-plugin/index.ts';

// The optional `stats` and `combine` hooks: validation, the core's default stats, and AdapterManager.combine.

const kernel = await createTestKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
kernel.use(lora).use(ia3).use(frozen);
const tf = kernel.tf;
const ids = tinyBatch(2, 5);

test('a non-function combine or stats is refused with PEFTKIT_E_PLUGIN_INVALID', () => {
  for (const bad of [{ combine: 42 }, { stats: 'yes' }]) {
    assert.throws(
      () => validatePluginObject({ ...lora, ...bad }),
      (e) =>
        isPeftkitError(e, 'PEFTKIT_E_PLUGIN_INVALID') &&
        new RegExp(Object.keys(bad)[0] as string).test((e as Error).message),
    );
  }
  validatePluginObject({ ...ia3, stats: () => ({ trainableParams: 0, frozenParams: 0, residentBytes: 0 }) });
});

test('default stats count trainable variables and declared frozen tensors; a stats hook overrides them', async () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  const trainable = manager.create('l', 'lora', { r: 4 }).handle.trainableVariables.reduce((n, v) => n + v.size, 0);
  assert.deepEqual(manager.stats('l'), { trainableParams: trainable, frozenParams: 0, residentBytes: trainable * 4 });
  const f = manager.create('f', 'ia3-frozen', {});
  const scales = f.handle.trainableVariables.reduce((n, v) => n + v.size, 0);
  const projection = PROJECTION_SHAPE[0] * PROJECTION_SHAPE[1];
  assert.deepEqual(manager.stats('f'), {
    trainableParams: scales,
    frozenParams: projection,
    residentBytes: (scales + projection) * 4,
  });
  manager.dispose();
  model.dispose();

  const k = await createTestKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
  const hooked: MethodPlugin = {
    ...(ia3 as MethodPlugin),
    meta: { ...ia3.meta, name: 'ia3-stats' },
    stats: () => ({ trainableParams: 1, frozenParams: 2, residentBytes: 3 }),
  };
  k.use(hooked);
  const m = createTinyLlama(k.tf);
  const mgr = k.adapters(m);
  mgr.create('s', 'ia3-stats', {});
  assert.deepEqual(mgr.stats('s'), { trainableParams: 1, frozenParams: 2, residentBytes: 3 });
  mgr.dispose();
  m.dispose();
});

test('manager.combine goes through the plugin: LoRA equals addWeightedAdapter; others are refused with codes', () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  perturb(tf, manager.create('x', 'lora', { r: 4 }, { seed: 1 }).handle.trainableVariables, 1);
  perturb(tf, manager.create('y', 'lora', { r: 4 }, { seed: 2 }).handle.trainableVariables, 2);
  const before = tf.memory().numTensors;
  for (const strategy of ['linear', 'ties', 'dare_linear', 'dare_ties', 'magnitude_prune'] as const) {
    const options = { strategy, density: 0.5, majoritySignMethod: 'frequency' as const };
    const record = manager.combine(
      `c-${strategy}`,
      [
        { adapter: 'x', weight: 0.7 },
        { adapter: 'y', weight: 0.3 },
      ],
      options,
    );
    assert.equal(record.plugin, lora, 'built by the LoRA plugin');
    addWeightedAdapter(manager, {
      adapters: ['x', 'y'],
      weights: [0.7, 0.3],
      name: `w-${strategy}`,
      combination: strategy,
      density: 0.5,
      majoritySignMethod: 'frequency',
    });
    const a = logits(model, ids, { active: [`c-${strategy}`] });
    assert.ok(
      maxAbsDiff(a, logits(model, ids, { active: [`w-${strategy}`] })) <= 1e-6,
      `${strategy}: same as add_weighted_adapter`,
    );
    assert.ok(maxAbsDiff(a, logits(model, ids)) > 0, `${strategy}: the combination changes the outputs`);
    manager.delete(`c-${strategy}`);
    manager.delete(`w-${strategy}`);
  }
  assert.equal(tf.memory().numTensors, before, 'combining and deleting leaks nothing');

  manager.create('i', 'ia3', {});
  assert.throws(
    () => manager.combine('ci', [{ adapter: 'i', weight: 1 }], { strategy: 'linear' }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_MERGE_UNSUPPORTED') && /ia3/.test((e as Error).message),
  );
  assert.throws(
    () =>
      manager.combine(
        'mix',
        [
          { adapter: 'x', weight: 1 },
          { adapter: 'i', weight: 1 },
        ],
        { strategy: 'linear' },
      ),
    (e) => isPeftkitError(e, 'PEFTKIT_E_COMBINATION'),
  );
  assert.throws(
    () =>
      manager.combine(
        'bad',
        [
          { adapter: 'x', weight: 1 },
          { adapter: 'y', weight: 1 },
        ],
        { strategy: 'nope' as 'linear' },
      ),
    (e) => isPeftkitError(e, 'PEFTKIT_E_COMBINATION'),
  );
  assert.equal(
    manager.has('ci') || manager.has('mix') || manager.has('bad'),
    false,
    'refused combinations register nothing',
  );
  manager.dispose();
  model.dispose();
});
