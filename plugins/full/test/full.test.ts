import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, disposeSaved, encodeAdapter, isPeftkitError, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, maxParameterDiff, snapshotParameters } from '@peftkit/testing';
import { type TrainExample, train } from '@peftkit/core/train';
import full, { CONFIG_FILE, WEIGHTS_FILE } from '@peftkit/full';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(full);
const tf = kernel.tf;

function data(count: number): TrainExample[] {
  const rng = new Rng(3);
  return Array.from({ length: count }, () => {
    const first = 1 + rng.int(50);
    return { ids: Array.from({ length: 6 }, (_, i) => first + i) };
  });
}

test('trainable selects base parameters by pattern; the loop changes exactly those', async () => {
  const model = createTinyLlama(tf, { seed: 2 });
  const manager = kernel.adapters(model);
  const record = manager.create('ft', 'full', { trainable: ['layers\\.1\\.mlp'] });
  const names = (record.handle as unknown as { names: string[] }).names;
  assert.deepEqual(
    names,
    ['model.layers.1.mlp.gate_proj.weight', 'model.layers.1.mlp.up_proj.weight', 'model.layers.1.mlp.down_proj.weight'],
    'three MLP weights of layer 1',
  );
  const before = snapshotParameters(model);
  const result = await train({
    tf,
    model,
    manager,
    adapter: 'ft',
    trainData: data(8),
    padId: 0,
    options: { steps: 5, batchSize: 4, lr: 1e-2 },
  });
  assert.ok((result.history.at(-1)?.loss as number) < (result.history[0]?.loss as number), 'loss falls');
  const after = snapshotParameters(model);
  for (const [name, values] of after) {
    const moved = values.some((x, i) => x !== before.get(name)?.[i]);
    assert.equal(moved, names.includes(name), `${name} ${moved ? 'moved' : 'stayed'}`);
  }
  manager.delete('ft');
  assert.ok(
    [...model.parameters().values()].every((v) => !v.trainable),
    'dispose makes the base frozen again',
  );
  assert.ok(maxParameterDiff(model, after) === 0, 'the trained weights stay in the base after dispose');
  model.dispose();
});

test(
  'saves model.safetensors with Hugging Face names + peftkit_full_config.json; ' + 'load is strict and all-or-nothing',
  () => {
    const model = createTinyLlama(tf, { seed: 2 });
    const manager = kernel.adapters(model);
    manager.create('ft', 'full', { trainable: ['norm'] });
    const saved = manager.save('ft');
    assert.deepEqual(saved.files, { config: CONFIG_FILE, weights: WEIGHTS_FILE }, 'file names');
    assert.equal(saved.config.peftkit_method, 'full', 'config marks the method');
    assert.deepEqual(
      Object.keys(saved.tensors).sort(),
      [...model.parameters().keys()].filter((n) => n.includes('norm')).sort(),
      'HF names of the selection',
    );
    const bytes = encodeAdapter(saved);
    disposeSaved(saved);
    manager.dispose();

    const other = createTinyLlama(tf, { seed: 5 });
    const otherManager = kernel.adapters(other);
    const snapshot = snapshotParameters(other);
    const broken = decodeAdapter(tf, bytes.config, bytes.weights, saved.files);
    const first = Object.keys(broken.tensors)[0] as string;
    broken.tensors[first]?.dispose();
    const { [first]: _dropped, ...rest } = broken.tensors;
    assert.throws(
      () => otherManager.load('x', { ...broken, tensors: rest }),
      (e) => isPeftkitError(e, 'PEFTKIT_E_ADAPTER_KEY_MISSING'),
      'a missing tensor is refused',
    );
    assert.equal(maxParameterDiff(other, snapshot), 0, 'a refused load leaves the base untouched');
    assert.equal(otherManager.has('x'), false, 'nothing registered');
    disposeSaved({ ...broken, tensors: rest });

    const good = decodeAdapter(tf, bytes.config, bytes.weights, saved.files);
    assert.equal(otherManager.pluginFor(good.config).meta.name, 'full', 'the config file is recognised');
    otherManager.load('x', good);
    disposeSaved(good);
    const loaded = other.parameters();
    for (const [name, v] of model.parameters()) {
      const same = Array.from(v.dataSync()).every((x, i) => x === loaded.get(name)?.dataSync()[i]);
      assert.equal(same, name.includes('norm'), `${name} ${name.includes('norm') ? 'copied' : 'untouched'}`);
    }
    otherManager.dispose();
    other.dispose();
    model.dispose();
  },
);

test('bad configs: unknown key, invalid regex, empty selection', () => {
  const model = createTinyLlama(tf, { seed: 2 });
  const manager = kernel.adapters(model);
  for (const bad of [{ nope: 1 }, { trainable: ['('] }, { trainable: ['does-not-exist'] }, { trainable: [] }]) {
    assert.throws(
      () => manager.create('ft', 'full', bad),
      (e) => isPeftkitError(e, 'PEFTKIT_E_CONFIG_INVALID'),
      `${JSON.stringify(bad)} refused`,
    );
  }
  assert.ok(
    [...model.parameters().values()].every((v) => !v.trainable),
    'refused configs leave the base frozen',
  );
  manager.dispose();
  model.dispose();
});
