import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor, Tensor3D } from '@tensorflow/tfjs-core';
import { createNormSite, type ForwardCall, RMS_NORM_KERNEL, Rng, runNorm } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { jsRmsNormLoops, simdRmsNormLoops } from '../adapters/tensor/kernels/simd-rmsnorm.ts';
import { wasmApi } from '../adapters/tensor/kernels/wasm-asm.ts';

// RMSNorm in one wasm kernel (adapters/tensor/kernels/wasm-rmsnorm.ts), used by runNorm for inference, against the
// composed ops it replaces: bit-identical values, and the gradients of its customGrad for callers differentiating an
// inference forward.

const quiet = { logger: { warn() {}, info() {} } };
/** Rows of widths that are and are not multiples of the 4 SIMD lanes; one element. */
const shapes: [number, number, number][] = [
  [2, 3, 8],
  [1, 4, 37],
  [3, 1, 288],
  [1, 1, 1],
];

function worst(got: Tensor, want: Tensor): number {
  const [a, b] = [got.dataSync(), want.dataSync()];
  assert.equal(a.length, b.length, 'same number of elements');
  let w = 0;
  for (let i = 0; i < a.length; i++) {
    w = Math.max(w, Math.abs((a[i] as number) - (b[i] as number)) / Math.max(1, Math.abs(b[i] as number)));
  }
  return w;
}

test('wasm RMSNorm kernel equals the composed ops, value and gradients, and leaks nothing', async () => {
  const tf = (await createKernel({ backend: 'wasm', ...quiet })).tf;
  assert.ok(tf.getKernel(RMS_NORM_KERNEL, 'wasm') !== undefined, 'kernel installed');
  const rng = new Rng(3);
  for (const [batch, seq, d] of shapes) {
    const x = tf.tensor3d(rng.normalArray(batch * seq * d, 0, 2), [batch, seq, d]);
    const weight = tf.variable(tf.tensor1d(rng.normalArray(d, 1, 0.3)), false);
    const site = createNormSite('norm', { layer: 0, normKind: 'rms', eps: 1e-5, weight });
    const call = (training: boolean): ForwardCall => ({ groups: [], batchSize: batch, training, rng: null });
    const before = tf.memory().numTensors;
    const r = tf.randomNormal([batch, seq, d]);
    const loss = (training: boolean) => (xs: Tensor, w: Tensor) =>
      tf.sum(tf.mul(runNorm(tf, { ...site, weight: w as typeof weight }, xs as Tensor3D, call(training)), r));
    const [fused, composed] = [false, true].map((training) => tf.tidy(() => runNorm(tf, site, x, call(training))));
    const [gFused, gComposed] = [false, true].map((training) => tf.grads(loss(training))([x, weight]));
    const label = `[${batch}, ${seq}, ${d}]`;
    // every step rounds as the composed ops do: the same bits
    assert.deepEqual(Array.from((fused as Tensor).dataSync()), Array.from((composed as Tensor).dataSync()), label);
    assert.ok(worst(gFused?.[0] as Tensor, gComposed?.[0] as Tensor) < 1e-4, `${label} dx`);
    assert.ok(worst(gFused?.[1] as Tensor, gComposed?.[1] as Tensor) < 1e-4, `${label} dweight`);
    tf.dispose([fused as Tensor, composed as Tensor, ...(gFused ?? []), ...(gComposed ?? []), r]);
    assert.equal(tf.memory().numTensors, before, `${label}: no tensors left behind`);
    tf.dispose([x, weight]);
  }
});

test('the RMSNorm SIMD pass equals its JS version', () => {
  if (wasmApi === undefined) return;
  const memory = new wasmApi.Memory({ initial: 1 });
  const simd = simdRmsNormLoops(memory);
  assert.ok(simd !== null, 'SIMD instantiates on a plain Memory');
  const js = jsRmsNormLoops(() => memory.buffer);
  const f = new Float32Array(memory.buffer);
  const rng = new Rng(4);
  for (const [rows, d] of [
    [1, 1],
    [3, 7],
    [2, 16],
    [4, 37],
  ] as const) {
    for (let i = 0; i < 1024; i++) f[i] = rng.normal();
    simd.rows(8192, 0, 2048, rows, d, 1e-5);
    js.rows(12288, 0, 2048, rows, d, 1e-5);
    for (let i = 0; i < rows * d; i++) {
      const [s, j] = [f[2048 + i] as number, f[3072 + i] as number];
      assert.equal(s, j, `${rows}x${d} [${i}]: the same float32 steps give the same bits`);
    }
  }
});
