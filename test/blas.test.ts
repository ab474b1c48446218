import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  blasLibrary,
  blasStatus,
  describeBlas,
  nativeLibraries,
  registerPlatform,
  setBlasKernelSettings,
  setSmallProductMacs,
  withoutBlas,
} from '@peftkit/adapters';
import { PORTS, Scope } from '@peftkit/core';
import { createTensorRuntime } from './support/runtime.ts';

// The native BLAS path of the wasm BatchMatMul / _FusedMatMul kernels against the wasm path (what peftkit computes
// without a BLAS). Runs with the machine's BLAS and, in CI, a second time with PEFTKIT_BLAS=off (.ci/run).

const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
const disabled = /^(off|0|false|none|no)$/i.test(env.PEFTKIT_BLAS ?? '');
const status = blasStatus();
const lib = status.library;
// Visible in every runtime's output, so a developer without a BLAS knows these checks did not run.
console.log(`# BLAS: ${describeBlas(status)}${lib === null ? ' — BLAS kernel checks skipped' : ''}`);
const skip = lib === null ? `no BLAS: ${status.reason ?? ''}` : false;

let state = 7;
/** Deterministic values in [-1, 1). */
const values = (n: number) =>
  Float32Array.from({ length: n }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return ((state / 2 ** 31) % 2) - 1;
  });
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const stored = (shape: number[], t: boolean) =>
  t ? [...shape.slice(0, -2), shape.at(-1) as number, shape.at(-2) as number] : shape;

/** Logical [.., m, k] x [.., k, n] shapes: odd sizes, batches and every broadcast form. */
const FAMILIES: Array<{ name: string; a: number[]; b: number[] }> = [
  { name: '2-D', a: [5, 7], b: [7, 3] },
  { name: 'batched', a: [3, 5, 7], b: [3, 7, 4] },
  { name: 'B shared', a: [3, 5, 7], b: [7, 4] },
  { name: 'B [1,k,n]', a: [3, 5, 7], b: [1, 7, 4] },
  { name: 'A shared', a: [5, 7], b: [3, 7, 4] },
  { name: 'rank 4 broadcast', a: [2, 3, 5, 7], b: [3, 7, 4] },
  { name: 'vectors', a: [1, 9], b: [9, 1] },
  { name: 'row vector (sgemv)', a: [1, 9], b: [9, 5] },
  { name: 'column vector (sgemv)', a: [6, 9], b: [9, 1] },
  { name: 'batched row vectors', a: [3, 1, 9], b: [3, 9, 4] },
  { name: 'larger odd', a: [2, 33, 65], b: [2, 65, 17] },
];
const PAIRS = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

function close(got: ArrayLike<number>, want: ArrayLike<number>, label: string, tol = 1e-5): void {
  assert.equal(got.length, want.length, `${label}: length`);
  for (let i = 0; i < got.length; i++) {
    const g = got[i] as number;
    const w = want[i] as number;
    assert.ok(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)), `${label} element ${i}: ${g} vs ${w}`);
  }
}

/** Counts sgemm calls, so a check cannot pass by silently running the wasm path. */
function countCalls<T>(fn: () => T): { result: T; calls: number } {
  const binding = blasLibrary()?.binding;
  if (binding === undefined) return { result: fn(), calls: 0 };
  const { sgemm, sgemv } = binding;
  let calls = 0;
  binding.sgemm = (...args) => {
    calls++;
    sgemm(...args);
  };
  if (sgemv !== undefined)
    binding.sgemv = (...args) => {
      calls++;
      sgemv(...args);
    };
  try {
    return { result: fn(), calls };
  } finally {
    Object.assign(binding, { sgemm, sgemv });
  }
}

/** Runs `fn` as with a BLAS that has no cblas_sgemv. */
function withoutSgemv<T>(fn: () => T): T {
  const binding = blasLibrary()?.binding;
  const sgemv = binding?.sgemv;
  if (binding === undefined || sgemv === undefined) return fn();
  delete binding.sgemv;
  try {
    return fn();
  } finally {
    binding.sgemv = sgemv;
  }
}

type Tf = Awaited<ReturnType<typeof createTensorRuntime>>['tf'];
type T = ReturnType<Tf['tensor']>;

/**
 * Runs `fn` on wasm with every product through BLAS, small ones included, and batches of small products too (they
 * otherwise take one SIMD pass, tested in wasm-small-products.test.ts). Restored after: Bun shares the process.
 */
async function onBlas(fn: (tf: Tf) => void): Promise<void> {
  const { tf } = await createTensorRuntime({ backend: 'wasm' });
  const previous = setBlasKernelSettings({ minMacs: 0 });
  const small = setSmallProductMacs(0);
  try {
    fn(tf);
  } finally {
    setBlasKernelSettings(previous);
    setSmallProductMacs(small);
  }
}

test('BLAS discovery: PEFTKIT_BLAS=off disables it; otherwise the NativeLibraries port reports what was found', () => {
  const listed = registerPlatform(new Scope()).resolve(PORTS.NativeLibraries).list();
  if (disabled) {
    assert.equal(lib, null);
    assert.match(status.reason ?? '', /PEFTKIT_BLAS/);
  }
  assert.deepEqual(listed, nativeLibraries.list());
  assert.equal(listed.length, lib === null ? 0 : 1);
  if (lib !== null) {
    assert.equal(listed[0]?.path, lib.path);
    assert.match(listed[0]?.name ?? '', /^BLAS /);
  }
  // CI installs libopenblas0-pthread: a BLAS that silently went missing there must fail, not skip.
  if (env.CI === 'true' && !disabled) assert.notEqual(lib, null, `CI expects a BLAS: ${describeBlas(status)}`);
});

test('BLAS sgemm reads and writes the wasm heap in place (no copies)', { skip }, () => {
  const binding = blasLibrary()?.binding;
  assert.ok(binding);
  // lib ES2023 has no WebAssembly types; every runtime has the global.
  const Memory = (
    globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }
  ).WebAssembly.Memory;
  const memory = new Memory({ initial: 1024 }); // 64 MiB
  const heap = new Float32Array(memory.buffer);
  heap.set([2, 3], 1000);
  // C at the very end of the heap: a copy of the views (64 MiB each) would take milliseconds per call.
  const c = heap.length - 1;
  const calls = 200;
  const start = performance.now();
  for (let i = 0; i < calls; i++)
    binding.sgemm(false, false, 1, 1, 1, 1, heap.subarray(1000), 1, heap.subarray(1001), 1, 0, heap.subarray(c), 1);
  const perCall = (performance.now() - start) / calls;
  assert.equal(heap[c], 6);
  assert.ok(perCall < 2, `${perCall.toFixed(3)} ms per 1x1 sgemm on 64 MiB views: the FFI copies them`);
});

test('BLAS BatchMatMul equals the wasm path for every transpose combination and broadcast', { skip }, () =>
  onBlas((tf) => {
    for (const family of FAMILIES) {
      for (const [tA, tB] of PAIRS) {
        const a = tf.tensor(values(size(family.a)), stored(family.a, tA));
        const b = tf.tensor(values(size(family.b)), stored(family.b, tB));
        const label = `${family.name} tA=${tA} tB=${tB}`;
        const want = withoutBlas(() => tf.tidy(() => tf.matMul(a, b, tA, tB).dataSync()));
        const { result, calls } = countCalls(() => tf.tidy(() => tf.matMul(a, b, tA, tB)));
        assert.ok(calls > 0, `${label}: BLAS was not called`);
        assert.deepEqual(
          result.shape,
          withoutBlas(() => tf.tidy(() => tf.matMul(a, b, tA, tB).shape)),
          label,
        );
        close(result.dataSync(), want, label);
        // The same through sgemm alone, as with a BLAS that lacks cblas_sgemv.
        close(
          withoutSgemv(() => tf.tidy(() => tf.matMul(a, b, tA, tB).dataSync())),
          want,
          `${label} without sgemv`,
        );
        tf.dispose([a, b, result]);
      }
    }
  }),
);

test('BLAS fused matMul: bias of every shape and every activation equal the wasm path', { skip }, () =>
  onBlas((tf) => {
    const activations = ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid', 'prelu'] as const;
    for (const family of FAMILIES.filter(
      (f) => f.a.length <= 3 && !f.name.startsWith('vectors') && f.name !== 'larger odd',
    )) {
      const n = family.b.at(-1) as number;
      const m = family.a.at(-2) as number;
      for (const [tA, tB] of PAIRS) {
        for (const biasShape of [null, [n], [1, n], [m, n]]) {
          for (const activation of activations) {
            const label = `${family.name} tA=${tA} tB=${tB} bias=${JSON.stringify(biasShape)} ${activation}`;
            const run = () =>
              tf.tidy(() =>
                tf.fused
                  .matMul({
                    a: tf.tensor(values(size(family.a)), stored(family.a, tA)),
                    b: tf.tensor(values(size(family.b)), stored(family.b, tB)),
                    transposeA: tA,
                    transposeB: tB,
                    ...(biasShape === null ? {} : { bias: tf.tensor(values(size(biasShape)), biasShape) }),
                    activation,
                    ...(activation === 'prelu' ? { preluActivationWeights: tf.tensor(values(n), [n]) } : {}),
                  })
                  .dataSync(),
              );
            const seed = state;
            const want = withoutBlas(run);
            state = seed; // same inputs again
            const { result, calls } = countCalls(run);
            assert.ok(calls > 0, `${label}: BLAS was not called`);
            close(result, want, label);
          }
        }
      }
    }
  }),
);

test('BLAS gradients through transposed, batched and fused products equal the wasm path', { skip }, () =>
  onBlas((tf) => {
    const cases: Array<{ label: string; shapes: number[][]; f: (...xs: T[]) => T }> = [
      ...PAIRS.map(([tA, tB]) => ({
        label: `2-D tA=${tA} tB=${tB}`,
        shapes: [stored([6, 5], tA), stored([5, 3], tB)],
        f: (a: T, b: T) => tf.matMul(a, b, tA, tB),
      })),
      ...PAIRS.map(([tA, tB]) => ({
        label: `batched broadcast tA=${tA} tB=${tB}`,
        shapes: [stored([2, 6, 5], tA), stored([5, 3], tB)],
        f: (a: T, b: T) => tf.matMul(a, b, tA, tB),
      })),
      {
        label: 'attention-like q·kᵀ then ·v',
        shapes: [
          [2, 7, 4],
          [2, 7, 4],
          [2, 7, 4],
        ],
        f: (q: T, k: T, v: T) => tf.matMul(tf.softmax(tf.matMul(q, k, false, true)), v),
      },
      {
        label: 'fused with bias and relu',
        shapes: [[6, 5], [3, 5], [3]],
        f: (a: T, b: T, bias: T) => tf.fused.matMul({ a, b, transposeB: true, bias, activation: 'relu' }),
      },
    ];
    for (const c of cases) {
      const inputs = c.shapes.map((s) => values(size(s)));
      const weights = values(size(tf.tidy(() => c.f(...inputs.map((v, i) => tf.tensor(v, c.shapes[i]))).shape)));
      const grads = () =>
        tf.tidy(() => {
          const xs = inputs.map((v, i) => tf.tensor(v, c.shapes[i]));
          const loss = (...ts: T[]) => tf.sum(tf.mul(tf.reshape(c.f(...ts), [-1]), tf.tensor(weights)));
          return tf
            .grads(loss)(xs)
            .map((g) => g.dataSync());
        });
      const want = withoutBlas(grads);
      const { result, calls } = countCalls(grads);
      assert.ok(calls > 0, `${c.label}: BLAS was not called`);
      for (const [i, g] of result.entries()) close(g, want[i] as ArrayLike<number>, `${c.label} d/dx${i}`);
    }
  }),
);

test('BLAS kernels respect the size threshold and leak no tensors or heap buffers', { skip }, () =>
  onBlas((tf) => {
    const a = tf.tensor(values(12 * 10), [12, 10]);
    const b = tf.tensor(values(10 * 8), [10, 8]);
    const previous = setBlasKernelSettings({ minMacs: 12 * 10 * 8 + 1 });
    try {
      assert.equal(
        countCalls(() => tf.tidy(() => tf.matMul(a, b).dataSync())).calls,
        0,
        'below the threshold: wasm path',
      );
    } finally {
      setBlasKernelSettings(previous);
    }
    const run = () =>
      tf.tidy(() => {
        for (const [tA, tB] of PAIRS) tf.matMul(tA ? tf.transpose(a) : a, tB ? tf.transpose(b) : b, tA, tB).dataSync();
        tf.fused.matMul({ a, b, bias: tf.ones([8]), activation: 'elu' }).dataSync();
        tf.fused.matMul({ a, b, bias: tf.ones([12, 8]), activation: 'relu' }).dataSync();
      });
    run();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    assert.ok(countCalls(run).calls >= 6);
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(tf.engine().backend.numDataIds(), buffers);
    tf.dispose([a, b]);
  }),
);
