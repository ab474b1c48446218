import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { weightedCrossEntropySum } from '../core/src/train/cross-entropy.ts';
import { jsCrossEntropyLoops, simdCrossEntropyLoops } from '../adapters/tensor/kernels/simd-cross-entropy.ts';
import { wasmApi } from '../adapters/tensor/kernels/wasm-asm.ts';

// The fused cross-entropy against the textbook composition (log-softmax · one-hot) differentiated by autodiff:
// same value, same gradient, across the backward pass's row chunks, with ignored (weight 0) rows.

for (const backend of ['cpu', 'wasm']) {
  test(`fused weighted cross-entropy equals the composed one, value and gradient (${backend})`, async () => {
    const kernel = await createKernel({ backend, logger: { warn() {}, info() {} } });
    const tf = kernel.tf;
    // wasm runs the single-pass kernels (adapters/tensor/kernels/wasm-cross-entropy.ts), cpu the chunked composition
    assert.equal(tf.getKernel('PeftkitSoftmaxCrossEntropy', backend) !== undefined, backend === 'wasm');
    const rng = new Rng(5);
    const rows = 600; // three backward chunks
    const vocab = 37;
    const values = Array.from({ length: rows * vocab }, () => 4 * rng.normal());
    const targets = Array.from({ length: rows }, () => rng.int(vocab));
    const weights = targets.map((_, i) => (i % 7 === 3 ? 0 : 1));
    const x = tf.variable(tf.tensor2d(values, [rows, vocab]), true, `ce-x-${backend}`);
    const before = tf.memory().numTensors;
    const fused = tf.variableGrads(() => weightedCrossEntropySum(tf, x, targets, weights), [x]);
    const composed = tf.variableGrads(
      () =>
        tf.tidy(() => {
          const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(tf.tensor1d(targets, 'int32'), vocab), tf.logSoftmax(x)), -1));
          return tf.sum(tf.mul(nll, tf.tensor1d(weights)));
        }) as ReturnType<typeof tf.scalar>,
      [x],
    );
    const a = fused.value.dataSync()[0] as number;
    const b = composed.value.dataSync()[0] as number;
    assert.ok(Math.abs(a - b) <= 1e-4 * Math.abs(b), `value ${a} vs ${b}`);
    const ga = fused.grads[x.name]?.dataSync() as Float32Array;
    const gb = composed.grads[x.name]?.dataSync() as Float32Array;
    let worst = 0;
    for (let i = 0; i < ga.length; i++) worst = Math.max(worst, Math.abs((ga[i] as number) - (gb[i] as number)));
    assert.ok(worst <= 1e-5, `gradient max abs difference ${worst}`);
    for (let r = 3; r < rows; r += 7) {
      for (let c = 0; c < vocab; c++)
        assert.equal(Math.abs(ga[r * vocab + c] as number), 0, `ignored row ${r} gets no gradient`);
    }
    for (const t of [fused.value, composed.value, ...Object.values(fused.grads), ...Object.values(composed.grads)])
      t.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    x.dispose();
  });
}

test('fused cross-entropy stays exact where the target probability underflows float32 (wasm)', async () => {
  const kernel = await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } });
  const tf = kernel.tf;
  const rng = new Rng(9);
  const rows = 40;
  const vocab = 300;
  // logits spread over ±300: most targets have softmax probability far below float32's smallest value
  const values = Array.from({ length: rows * vocab }, () => 100 * rng.normal());
  const targets = Array.from({ length: rows }, () => rng.int(vocab));
  const weights = targets.map((_, i) => (i % 5 === 0 ? 0 : 0.5 + (i % 3)));
  const x = tf.tensor2d(values, [rows, vocab]);
  const fused = weightedCrossEntropySum(tf, x, targets, weights);
  let expected = 0;
  for (let r = 0; r < rows; r++) {
    const row = values.slice(r * vocab, (r + 1) * vocab).map((v) => Math.fround(v));
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((n, v) => n + Math.exp(v - max), 0));
    expected += (weights[r] as number) * (lse - (row[targets[r] as number] as number));
  }
  const got = fused.dataSync()[0] as number;
  assert.ok(
    Number.isFinite(got) && Math.abs(got - expected) <= 1e-5 * Math.abs(expected),
    `loss ${got} vs ${expected}`,
  );
  tf.dispose([x, fused]);
});

test(
  'cross-entropy backward pass: SIMD and JS agree exactly, ' +
    'lengths off the 4 lanes (JS runs where SIMD is missing)',
  () => {
    assert.ok(wasmApi !== undefined, 'the runtime has WebAssembly');
    const memory = new wasmApi.Memory({ initial: 1 });
    const f = new Float32Array(memory.buffer);
    const [rows, len] = [5, 39];
    const n = rows * len;
    const rng = new Rng(7);
    for (let i = 0; i < n + rows; i++) f[i] = 5 * rng.normal(); // p, then one coefficient per row
    const simd = simdCrossEntropyLoops(memory);
    const js = jsCrossEntropyLoops(() => memory.buffer);
    for (const loops of simd === null ? [js] : [simd, js]) {
      f.fill(0, 2 * n, 3 * n);
      loops.scaleRows(4 * 2 * n, 0, rows, len, 4 * n);
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < len; j++) {
          const expected = Math.fround((f[r * len + j] as number) * (f[n + r] as number));
          assert.equal(f[2 * n + r * len + j], expected, `row ${r} element ${j} scaled by its coefficient`);
        }
      }
    }
  },
);
