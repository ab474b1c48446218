import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tfcore from '@tensorflow/tfjs-core';
import { dataTablesInUse, useMapDataTables } from '../adapters/tensor/dataid-tables.ts';
import { createTensorRuntime } from './support/runtime.ts';

// Whether this process's engine was still empty when the wasm backend started: only then can its table be swapped
// (true in a process of its own, as node --test gives each file; Bun runs all files in one process).
const freshEngine = tfcore.findBackend('wasm') == null && tfcore.engine().state.numDataBuffers === 0;

test(
  'the wasm backend books tensors in Maps, not WeakMaps ' + '(V8 WeakMap inserts slow down with many live tensors)',
  async () => {
    const { tf } = await createTensorRuntime({ backend: 'wasm' });
    const inUse = dataTablesInUse(tf.engine(), tf.backend());
    assert.equal(
      inUse.backend,
      true,
      "the wasm backend's dataIdMap.data is a Map (tfjs moved it if this fails: see dataid-tables.ts)",
    );
    if (freshEngine)
      assert.equal(inUse.engine, true, "the engine's state.tensorInfo is a Map when wasm started on an empty engine");
  },
);

test(
  'with Map tables, tensor bookkeeping still balances ' + 'and values survive ops, variables and backend moves',
  async () => {
    const { tf } = await createTensorRuntime({ backend: 'wasm' });
    const before = tf.memory();
    const init = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const v = tf.variable(init, true);
    init.dispose();
    const out = tf.tidy(() => tf.add(tf.matMul(v, v), 1));
    assert.deepEqual(Array.from(out.dataSync()), [8, 11, 16, 23], 'matMul + 1 on wasm');
    tf.tidy(() => v.assign(tf.zeros([2, 2])));
    assert.deepEqual(Array.from(v.dataSync()), [0, 0, 0, 0], 'assigned variable reads back');
    out.dispose();
    v.dispose();
    assert.equal(tf.memory().numTensors, before.numTensors, 'every tensor made here was freed');
    assert.equal(tf.memory().numDataBuffers, before.numDataBuffers, 'and every data buffer');
    // A tensor made on cpu moves into the wasm backend's table on first use there.
    await createTensorRuntime({ backend: 'cpu' });
    const onCpu = tf.tensor1d([5, 6]);
    await createTensorRuntime({ backend: 'wasm' });
    const doubled = tf.mul(onCpu, 2);
    assert.deepEqual(Array.from(doubled.dataSync()), [10, 12], 'cpu tensor used by a wasm kernel');
    onCpu.dispose();
    doubled.dispose();
    assert.equal(tf.memory().numTensors, before.numTensors, 'moved tensors are freed too');
  },
);

test('tables that already hold entries stay WeakMaps (their entries cannot be listed and carried over)', () => {
  const key = {};
  const tensorInfo = new WeakMap([[key, 1]]);
  const data = new WeakMap([[key, 1]]);
  const engine = { state: { tensorInfo, numDataBuffers: 1 } };
  const backend = { dataIdMap: { data, numDataIds: () => 1 } };
  assert.deepEqual(useMapDataTables(engine, backend), { engine: false, backend: false }, 'non-empty: both left alone');
  assert.equal(engine.state.tensorInfo, tensorInfo, 'the same engine table');
  assert.equal(backend.dataIdMap.data, data, 'the same backend table');
  const empty = { state: { tensorInfo: new WeakMap(), numDataBuffers: 0 } };
  const emptyBackend = { dataIdMap: { data: new WeakMap(), numDataIds: () => 0 } };
  assert.deepEqual(useMapDataTables(empty, emptyBackend), { engine: true, backend: true }, 'empty: both swapped');
  assert.deepEqual(
    useMapDataTables({}, null),
    { engine: false, backend: false },
    'fields not where expected: nothing happens',
  );
});
