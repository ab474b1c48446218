import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import {
  cpuBackend,
  defaultTensorBackends,
  isPeftkitKernel,
  tensorflowBackend,
  wasmBackend,
} from '../adapters/tensor/index.ts';
import { isPeftkitError } from '../packages/io/src/errors.ts';
import { createTensorRuntime } from './support/runtime.ts';
import type { TensorBackendAdapter } from '../core/src/runtime/types.ts';

/** Runs `fn` with PEFTKIT_BACKEND set to `value` (undefined: unset), restoring it afterwards. */
async function withEnvBackend<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const env = process.env;
  const saved = env.PEFTKIT_BACKEND;
  if (value === undefined) delete env.PEFTKIT_BACKEND;
  else env.PEFTKIT_BACKEND = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete env.PEFTKIT_BACKEND;
    else env.PEFTKIT_BACKEND = saved;
  }
}

// First on purpose: the thread count is fixed when the wasm backend is first initialised.
test('wasm runs single-threaded on this runtime even when threads are requested', async () => {
  // tfjs 4.22 refuses wasm threads under Node, Deno and Bun (see adapters/tensor/wasm.ts). If this
  // starts failing, tfjs honours threads here now: update wasm.ts and the wasm limits text.
  const runtime = await createTensorRuntime({ backend: 'wasm', threads: 2 });
  assert.equal(runtime.backend, 'wasm');
  assert.equal(getThreadsCount(), 1);
});

test('selects a backend by name', async () => {
  for (const name of ['cpu', 'wasm']) {
    const runtime = await createTensorRuntime({ backend: name });
    assert.equal(runtime.backend, name);
    assert.equal(runtime.tf.getBackend(), name);
    assert.equal(runtime.adapter.name, name);
    assert.deepEqual(Array.from(runtime.tf.tidy(() => runtime.tf.matMul([[1, 2]], [[3], [4]]).dataSync())), [11]);
  }
});

test('selects a backend from PEFTKIT_BACKEND when none is requested', async () => {
  for (const name of ['cpu', 'wasm']) {
    const runtime = await withEnvBackend(name, () => createTensorRuntime());
    assert.equal(runtime.backend, name);
  }
  // An explicit request wins over the environment.
  const runtime = await withEnvBackend('cpu', () => createTensorRuntime({ backend: 'wasm' }));
  assert.equal(runtime.backend, 'wasm');
});

test('without tfjs-node installed, the default is wasm', async () => {
  const runtime = await withEnvBackend(undefined, () => createTensorRuntime());
  assert.equal(runtime.backend, 'wasm');
});

test('an unknown backend is rejected with PEFTKIT_E_BACKEND_UNKNOWN', async () => {
  await assert.rejects(createTensorRuntime({ backend: 'no-such-backend' }), (error) =>
    isPeftkitError(error, 'PEFTKIT_E_BACKEND_UNKNOWN'),
  );
  await assert.rejects(
    withEnvBackend('no-such-backend', () => createTensorRuntime()),
    (error) => isPeftkitError(error, 'PEFTKIT_E_BACKEND_UNKNOWN'),
  );
});

test('the tensorflow adapter reports itself unavailable cleanly when tfjs-node is not installed', async () => {
  assert.equal(await tensorflowBackend.isAvailable(), false);
  await assert.rejects(tensorflowBackend.register((await createTensorRuntime({ backend: 'cpu' })).tf, {}), (error) => {
    return (error as { code?: unknown }).code === 'PEFTKIT_E_BACKEND_INIT';
  });
  await assert.rejects(createTensorRuntime({ backend: 'tensorflow' }), (error) =>
    isPeftkitError(error, 'PEFTKIT_E_BACKEND_UNAVAILABLE'),
  );
});

test('default adapters: tensorflow outranks wasm, wasm outranks cpu, all describe their limits', async () => {
  const byName = new Map(defaultTensorBackends.map((a) => [a.name, a]));
  assert.deepEqual([...byName.keys()].sort(), ['cpu', 'tensorflow', 'wasm']);
  assert.ok(tensorflowBackend.priority > wasmBackend.priority);
  assert.ok(wasmBackend.priority > cpuBackend.priority);
  for (const adapter of defaultTensorBackends) assert.ok(adapter.limits.length > 40, adapter.name);
  assert.equal(await wasmBackend.isAvailable(), true);
  assert.equal(await cpuBackend.isAvailable(), true);
});

test('registering twice does not wrap peftkit kernels twice', async () => {
  const { tf } = await createTensorRuntime({ backend: 'wasm' });
  await wasmBackend.register(tf, {});
  await cpuBackend.register(tf, {});
  const matMul = tf.getKernel('BatchMatMul', 'wasm');
  assert.ok(isPeftkitKernel(matMul));
  assert.equal(isPeftkitKernel(matMul.original), false);
});

/** An adapter whose tfjs backend fails to initialise, the way a broken native backend would. */
function brokenAdapter(name: string, factory: () => never | Promise<never>): TensorBackendAdapter {
  return {
    name,
    priority: 1000,
    limits: 'test adapter',
    isAvailable: async () => true,
    async register(tf) {
      if (tf.findBackendFactory(name) == null) tf.registerBackend(name, factory);
    },
  };
}

test('a backend whose initialisation fails makes createTensorRuntime throw PEFTKIT_E_BACKEND_INIT', async () => {
  const { tf } = await createTensorRuntime({ backend: 'cpu' });
  const adapters: TensorBackendAdapter[] = [
    brokenAdapter('peftkit-test-throws', () => {
      throw new Error('factory throws');
    }),
    brokenAdapter('peftkit-test-rejects', async () => {
      throw new Error('factory rejects');
    }),
  ];
  for (const adapter of adapters) {
    await assert.rejects(createTensorRuntime({ backends: [adapter, ...defaultTensorBackends] }), (error) =>
      isPeftkitError(error, 'PEFTKIT_E_BACKEND_INIT'),
    );
    // tfjs leaves its engine pointing at the failed backend; removing it and selecting again recovers.
    tf.removeBackend(adapter.name);
    const runtime = await createTensorRuntime({ backend: 'cpu' });
    assert.equal(runtime.tf.getBackend(), 'cpu');
  }
});
