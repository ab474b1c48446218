import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKernel } from 'peftkit';
import { jsTransposeLoops, simdTransposeLoops } from '../adapters/tensor/kernels/simd-transpose.ts';
import { wasmApi } from '../adapters/tensor/kernels/wasm-asm.ts';

// peftkit's wasm Transpose for attention's [a, b, c, d] → [a, c, b, d] (adapters/tensor/kernels/wasm-transpose.ts)
// against plain loops, and the other permutations left to tfjs.

/** out[p(idx)] = x[idx] for a row-major x of `shape` and the permutation `perm`. */
function reference(x: number[], shape: number[], perm: number[]): number[] {
  const outShape = perm.map((p) => shape[p] as number);
  const strides = (s: number[]) => s.map((_, i) => s.slice(i + 1).reduce((n, d) => n * d, 1));
  const [inStrides, outStrides] = [strides(shape), strides(outShape)];
  const out = new Array<number>(x.length);
  for (let flat = 0; flat < x.length; flat++) {
    const index = inStrides.map((st, i) => Math.floor(flat / st) % (shape[i] as number));
    const target = perm.reduce((sum, p, i) => sum + (index[p] as number) * (outStrides[i] as number), 0);
    out[target] = x[flat] as number;
  }
  return out;
}

test('wasm Transpose [0, 2, 1, 3] equals plain loops, forward and as its own gradient; other perms too', async () => {
  const tf = (await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } })).tf;
  assert.equal(tf.getBackend(), 'wasm', 'runs on the wasm backend');
  const cases: [number[], number[]][] = [
    [
      [2, 5, 3, 48],
      [0, 2, 1, 3],
    ], // runs of whole f32x4 lanes
    [
      [3, 4, 2, 7],
      [0, 2, 1, 3],
    ], // runs with a scalar tail
    [
      [2, 3, 4, 1],
      [0, 2, 1, 3],
    ], // one element per run
    [
      [2, 0, 3, 4],
      [0, 2, 1, 3],
    ], // empty
    [
      [2, 3, 4, 5],
      [0, 1, 3, 2],
    ], // not the swap: tfjs's kernel
    [
      [3, 4, 5],
      [1, 0, 2],
    ],
  ];
  const before = tf.memory().numTensors;
  for (const [shape, perm] of cases) {
    const size = shape.reduce((n, d) => n * d, 1);
    const values = Array.from({ length: size }, (_, i) => ((i * 29) % 83) - 41.5);
    const x = tf.tensor(values, shape);
    const y = tf.transpose(x, perm);
    const label = `[${shape}] perm [${perm}]`;
    assert.deepEqual(
      y.shape,
      perm.map((p) => shape[p]),
      `${label}: shape`,
    );
    assert.deepEqual(Array.from(y.dataSync()), reference(values, shape, perm), `${label}: values`);
    const weights = tf.tensor(
      values.map((v) => v / 7),
      y.shape,
    );
    const grad = tf.grad((t) => tf.sum(tf.mul(tf.transpose(t, perm), weights)))(x);
    const inverse = perm.map((_, i) => perm.indexOf(i));
    const want = reference(Array.from(weights.dataSync()), y.shape, inverse);
    assert.deepEqual(Array.from(grad.dataSync()), want, `${label}: gradient (the inverse permutation)`);
    tf.dispose([x, y, weights, grad]);
  }
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
});

test('the transpose SIMD pass equals its JS version', () => {
  if (wasmApi === undefined) return;
  const memory = new wasmApi.Memory({ initial: 2 });
  const simd = simdTransposeLoops(memory);
  assert.ok(simd !== null, 'SIMD instantiates on a plain Memory');
  const js = jsTransposeLoops(() => memory.buffer);
  const h = new Float32Array(memory.buffer);
  for (const [a, b, c, d] of [
    [2, 3, 4, 9],
    [1, 5, 2, 4],
    [3, 2, 2, 3],
  ] as const) {
    for (let i = 0; i < 4096; i++) h[i] = i * 0.25 - 100;
    simd.swap12(4 * 8192, 0, a, b, c, d);
    js.swap12(4 * 16384, 0, a, b, c, d);
    const n = a * b * c * d;
    assert.deepEqual(h.slice(8192, 8192 + n), h.slice(16384, 16384 + n), `[${a}, ${b}, ${c}, ${d}]`);
  }
});
