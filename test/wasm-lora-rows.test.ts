import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor, Tensor3D } from '@tensorflow/tfjs-core';
import { Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { jsLoraRowsLoops, simdLoraRowsLoops } from '../adapters/tensor/kernels/simd-lora-rows.ts';
import { LORA_ROWS_KERNEL } from '../adapters/tensor/kernels/wasm-lora-rows.ts';
import { wasmApi } from '../adapters/tensor/kernels/wasm-asm.ts';

// Mixed-adapter LoRA's one-kernel update (adapters/tensor/kernels/wasm-lora-rows.ts) against the composed ops it
// replaces in plugins/lora/src/batch.ts: y + (x · A_rowᵀ · s_row) · B_rowᵀ.

const quiet = { logger: { warn() {}, info() {} } };
/** [rows, seq, in, out, rank]: decode (seq 1), prefill, widths off the 4 lanes, rank 1. */
const cases: [number, number, number, number, number][] = [
  [32, 1, 64, 64, 8],
  [5, 3, 37, 13, 4],
  [2, 1, 288, 768, 8],
  [1, 2, 6, 5, 1],
];

/** Worst |got − want| relative to the largest |want| (terms cancel, so single elements are no fair scale). */
function worst(got: Tensor, want: Tensor): number {
  const [a, b] = [got.dataSync(), want.dataSync()];
  assert.equal(a.length, b.length, 'same number of elements');
  let [diff, scale] = [0, 1];
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / scale;
}

test('wasm LoRA rows kernel equals the composed batched products, leaking nothing', async () => {
  const tf = (await createKernel({ backend: 'wasm', ...quiet })).tf;
  assert.ok(tf.getKernel(LORA_ROWS_KERNEL, 'wasm') !== undefined, 'kernel installed');
  const rng = new Rng(12);
  const normal = (shape: number[]) =>
    tf.tensor(
      rng.normalArray(
        shape.reduce((n, d) => n * d, 1),
        0,
        1,
      ),
      shape,
    );
  for (const [rows, seq, inF, outF, rank] of cases) {
    const [x, y, a] = [normal([rows, seq, inF]), normal([rows, seq, outF]), normal([rows, rank, inF])];
    const bRows = normal([rows, outF, rank]);
    // one row without an adapter (scale 0), the others with their own scaling
    const scales = Float32Array.from({ length: rows }, (_, r) => (r === 0 && rows > 1 ? 0 : 0.5 + r));
    const scale = tf.tensor1d(scales);
    const before = tf.memory().numTensors;
    const bt = tf.transpose(bRows, [0, 2, 1]);
    const fused = tf.engine().runKernel(LORA_ROWS_KERNEL, { x, y, a, bt, scale } as never) as Tensor3D;
    const composed = tf.tidy(() => {
      const down = tf.mul(tf.matMul(x as Tensor3D, a as Tensor3D, false, true), tf.reshape(scale, [rows, 1, 1]));
      return tf.add(y, tf.matMul(down, bRows as Tensor3D, false, true));
    });
    const label = `[${rows}, ${seq}, ${inF}] → ${outF}, rank ${rank}`;
    // float32 sums of ≤ 288 products in another order: ~1e-7 of the largest value; a wrong term is off by ~1e-1
    assert.ok(worst(fused, composed) < 1e-5, `${label}: ${worst(fused, composed)}`);
    if (rows > 1) {
      const unchanged = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.slice(fused, 0, 1), tf.slice(y, 0, 1)))).dataSync()[0]);
      assert.equal(unchanged, 0, `${label}: a row with scale 0 keeps y exactly`);
    }
    tf.dispose([fused, composed, bt]);
    assert.equal(tf.memory().numTensors, before, `${label}: no tensors left behind`);
    tf.dispose([x, y, a, bRows, scale]);
  }
  const [x, y] = [tf.zeros([2, 1, 4]), tf.zeros([2, 1, 3])];
  const bad = { x, y, a: tf.zeros([2, 2, 5]), bt: tf.zeros([2, 2, 3]), scale: tf.zeros([2]) };
  assert.throws(() => tf.engine().runKernel(LORA_ROWS_KERNEL, bad as never), /shapes x \[2,1,4\]/, 'a mismatched A');
  tf.dispose([x, y, bad.a, bad.bt, bad.scale]);
});

test('the LoRA rows SIMD pass equals its JS version', () => {
  if (wasmApi === undefined) return;
  const memory = new wasmApi.Memory({ initial: 8 });
  const simd = simdLoraRowsLoops(memory);
  assert.ok(simd !== null, 'SIMD instantiates on a plain Memory');
  const js = jsLoraRowsLoops(() => memory.buffer);
  const f = new Float32Array(memory.buffer);
  const rng = new Rng(13);
  for (const [rows, seq, inF, outF, rank] of cases.slice(1)) {
    for (let i = 0; i < 66000; i++) f[i] = rng.normal();
    // x, y, a, bt, scale at 0, 16384, 32768, 49152, 65536 floats; the two outputs at 70000 and 100000
    const byte = (float: number) => 4 * float;
    simd.rows(byte(70000), 0, byte(16384), byte(32768), byte(49152), byte(65536), rows, seq, inF, outF, rank);
    js.rows(byte(100000), 0, byte(16384), byte(32768), byte(49152), byte(65536), rows, seq, inF, outF, rank);
    for (let i = 0; i < rows * seq * outF; i++) {
      const [s, j] = [f[70000 + i] as number, f[100000 + i] as number];
      assert.ok(Math.abs(s - j) <= 1e-5 * Math.max(1, Math.abs(j)), `[${rows}, ${seq}, ${inF}] [${i}]: ${s} vs ${j}`);
    }
  }
});
