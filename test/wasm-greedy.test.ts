import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from '@tensorflow/tfjs-core';
import { Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { jsGreedyLoops, simdGreedyLoops } from '../adapters/tensor/kernels/simd-greedy.ts';
import { GREEDY_KERNEL } from '../adapters/tensor/kernels/wasm-greedy.ts';
import { wasmApi } from '../adapters/tensor/kernels/wasm-asm.ts';
import { argmax } from '../packages/models/src/generate/sampling.ts';

// Greedy decoding's one-pass pick (adapters/tensor/kernels/wasm-greedy.ts): the first arg-max of each row of logits
// and the probability there, against the host's argmax.

/** Row widths around the 16- and 4-lane steps; a vocabulary's; one element. */
const widths = [1, 3, 4, 15, 16, 17, 67, 32000];

function normals(rng: Rng, count: number, spread: number): Float32Array {
  return Float32Array.from({ length: count }, () => spread * rng.normal());
}

test('wasm greedy pick: the first arg-max of every row and its probability, ties included', async () => {
  const tf = (await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } })).tf;
  assert.ok(tf.getKernel(GREEDY_KERNEL, 'wasm') !== undefined, 'kernel installed');
  const rng = new Rng(21);
  for (const n of widths) {
    const values = normals(rng, 3 * n, 4);
    // row 1 holds its maximum twice: the first index must win
    values[n + Math.floor(n / 2)] = 100;
    values[2 * n - 1] = 100;
    const probValues = normals(rng, 3 * n, 1);
    const before = tf.memory().numTensors;
    const [logits, probs] = [tf.tensor2d(values, [3, n]), tf.tensor2d(probValues, [3, n])];
    const [ids, picked] = tf.engine().runKernel(GREEDY_KERNEL, { logits, probs }) as [Tensor, Tensor];
    const [gotIds, gotP] = [ids.dataSync() as Int32Array, picked.dataSync() as Float32Array];
    for (let r = 0; r < 3; r++) {
      const id = argmax(values.subarray(r * n, (r + 1) * n));
      assert.equal(gotIds[r], id, `n ${n} row ${r}: the first arg-max`);
      assert.equal(gotP[r], probValues[r * n + id], `n ${n} row ${r}: probs at it`);
    }
    tf.dispose([logits, probs, ids, picked]);
    assert.equal(tf.memory().numTensors, before, `n ${n}: no tensors left behind`);
  }
  const [a, b] = [tf.zeros([2, 3]), tf.zeros([2, 4])];
  assert.throws(() => tf.engine().runKernel(GREEDY_KERNEL, { logits: a, probs: b }), /alike/, 'mismatched shapes');
  tf.dispose([a, b]);
});

test('the greedy SIMD pass equals its JS version', () => {
  if (wasmApi === undefined) return;
  const memory = new wasmApi.Memory({ initial: 2 });
  const simd = simdGreedyLoops(memory);
  assert.ok(simd !== null, 'SIMD instantiates on a plain Memory');
  const js = jsGreedyLoops(() => memory.buffer);
  const [f, ints] = [new Float32Array(memory.buffer), new Int32Array(memory.buffer)];
  const rng = new Rng(8);
  for (const n of [1, 5, 16, 33, 1000]) {
    f.set(normals(rng, 8 * n, 5), 0); // logits at 0, probs at 4n floats
    simd.rows(0, 16 * n, 65536, 65600, 4, n);
    js.rows(0, 16 * n, 98304, 98368, 4, n);
    for (let r = 0; r < 4; r++) {
      assert.equal(ints[16384 + r], ints[24576 + r], `n ${n} row ${r}: same index`);
      assert.equal(f[16400 + r], f[24592 + r], `n ${n} row ${r}: same probability`);
    }
  }
});
