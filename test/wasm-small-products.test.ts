import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from '@tensorflow/tfjs-core';
import { Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { setSmallProductMacs } from '@peftkit/adapters';
import { isSmallBatched } from '../adapters/tensor/kernels/small-products.ts';
import { planMatMul } from '../adapters/tensor/kernels/matmul-plan.ts';
import { jsSmallProductLoops, simdSmallProductLoops } from '../adapters/tensor/kernels/simd-small-products.ts';
import { wasmApi } from '../adapters/tensor/kernels/wasm-asm.ts';

// Batched small products in one SIMD pass (adapters/tensor/kernels/small-products.ts) against the per-matrix path
// they replace (BLAS where the machine has one, else XNNPACK), on the same wasm backend.

const quiet = { logger: { warn() {}, info() {} } };

type Case = [label: string, a: number[], b: number[], transposeB: boolean];

/** Mixed-adapter LoRA rows, decoding attention, broadcast A, lengths that are and are not multiples of 4 lanes. */
const cases: Case[] = [
  ['LoRA rows x·Aᵀ', [32, 1, 64], [32, 8, 64], true],
  ['LoRA rows ·Bᵀ', [32, 1, 8], [32, 64, 8], true],
  ['decode q·kᵀ', [2, 3, 1, 48], [2, 3, 37, 48], true],
  ['decode p·v', [2, 3, 1, 37], [2, 3, 37, 48], false],
  ['odd dots, 3 rows', [5, 3, 41], [5, 7, 41], true],
  ['odd sums, 3 rows', [5, 3, 7], [5, 7, 13], false],
  ['A broadcast', [1, 2, 33], [4, 5, 33], true],
  ['one-element matrices', [3, 1, 1], [3, 1, 1], false],
];

function maxRelative(got: Tensor, want: Tensor): number {
  const [a, b] = [got.dataSync(), want.dataSync()];
  assert.equal(a.length, b.length, 'same number of elements');
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const scale = Math.max(1, Math.abs(b[i] as number));
    worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)) / scale);
  }
  return worst;
}

test('small batched products in one SIMD pass equal the per-matrix products, leaking nothing', async () => {
  const tf = (await createKernel({ backend: 'wasm', ...quiet })).tf;
  assert.equal(tf.getBackend(), 'wasm', 'runs on the wasm backend');
  const rng = new Rng(5);
  for (const [label, aShape, bShape, tB] of cases) {
    const plan = planMatMul(aShape, bShape, false, tB);
    assert.ok(plan !== null && isSmallBatched(plan, false, tB), `${label}: takes the SIMD pass`);
    const values = (shape: number[]) => Array.from({ length: shape.reduce((n, d) => n * d, 1) }, () => rng.normal());
    const [a, b] = [tf.tensor(values(aShape), aShape), tf.tensor(values(bShape), bShape)];
    const before = tf.memory().numTensors;
    const simd = tf.matMul(a, b, false, tB);
    const previous = setSmallProductMacs(0);
    const reference = tf.matMul(a, b, false, tB);
    setSmallProductMacs(previous);
    assert.deepEqual(simd.shape, reference.shape, `${label}: shape`);
    // float32 sums of ≤ 64 unit-normal products in another order: ~1e-6 relative; 1e-5 catches a wrong term
    assert.ok(maxRelative(simd, reference) < 1e-5, `${label}: ${maxRelative(simd, reference)}`);
    tf.dispose([simd, reference]);
    assert.equal(tf.memory().numTensors, before, `${label}: no tensors left behind`);
    tf.dispose([a, b]);
  }
});

test('the short dot products a BLAS call does faster, a transposed A, or one B for all keep the usual path', () => {
  const plan = (a: number[], b: number[], tA: boolean, tB: boolean) => {
    const p = planMatMul(a, b, tA, tB);
    assert.ok(p !== null, 'valid product');
    return isSmallBatched(p, tA, tB);
  };
  assert.equal(plan([32, 1, 8], [32, 288, 8], false, true), false, 'rank-8 dots, 288 per matrix: BLAS');
  assert.equal(plan([32, 8, 1], [32, 8, 64], true, false), false, 'transposed A');
  assert.equal(plan([32, 1, 64], [1, 8, 64], false, true), false, 'B shared by the batch: one BLAS call already');
  assert.equal(plan([2, 64, 64], [2, 64, 64], false, true), false, 'past the per-matrix limit');
});

test('the SIMD loops equal their JS versions on the same heap', () => {
  if (wasmApi === undefined) return;
  const memory = new wasmApi.Memory({ initial: 1 });
  const simd = simdSmallProductLoops(memory);
  assert.ok(simd !== null, 'SIMD instantiates on a plain Memory');
  const js = jsSmallProductLoops(() => memory.buffer);
  const f = new Float32Array(memory.buffer);
  const rng = new Rng(9);
  for (const [m, n, k] of [
    [1, 1, 1],
    [3, 5, 7],
    [2, 9, 16],
    [4, 6, 33],
  ] as const) {
    for (let i = 0; i < 1024; i++) f[i] = rng.normal();
    for (const op of ['dotRows', 'sumRows'] as const) {
      simd[op](8192, 0, 2048, m, n, k);
      js[op](12288, 0, 2048, m, n, k);
      for (let i = 0; i < m * n; i++) {
        const [s, j] = [f[2048 + i] as number, f[3072 + i] as number];
        assert.ok(Math.abs(s - j) <= 1e-5 * Math.max(1, Math.abs(j)), `${op} ${m}x${n}x${k} [${i}]: ${s} vs ${j}`);
      }
    }
  }
});
