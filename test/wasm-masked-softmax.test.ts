import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { attentionMask } from '../packages/models/src/model/attention-mask.ts';
import { maskedSoftmax } from '../packages/models/src/model/masked-softmax.ts';
import { jsRowLoops, simdRowLoops } from '../adapters/tensor/kernels/simd-rows.ts';
import { wasmApi } from '../adapters/tensor/kernels/wasm-asm.ts';

// The fused attention softmax (adapters/tensor/kernels/wasm-masked-softmax.ts) against the composition it replaces
// (Mul, broadcast Add, Softmax, differentiated by autodiff) on the same wasm backend: grouped heads, cache-like
// earlier keys, left padding (fully masked query rows), batch > 1.

type Tfx = Awaited<ReturnType<typeof createKernel>>['tf'];

interface Case {
  name: string;
  kvHeads: number;
  group: number;
  /** 0/1 per row over the keys before the new tokens (prefix or cache). */
  earlier: number[][];
  /** 0/1 per row over the new tokens (queries). */
  tokens: number[][];
  causal: boolean;
}

const cases: Case[] = [
  { name: 'one head, no padding', kvHeads: 1, group: 1, earlier: [], tokens: [[1, 1, 1, 1, 1]], causal: true },
  {
    name: 'grouped heads, left padding, batch 2',
    kvHeads: 2,
    group: 3,
    earlier: [],
    tokens: [
      [0, 0, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1],
    ],
    causal: true,
  },
  {
    name: 'cache-like earlier keys, time > seq',
    kvHeads: 3,
    group: 2,
    earlier: [
      [1, 1, 0, 1, 1, 1, 1],
      [0, 0, 0, 1, 1, 1, 1],
    ],
    tokens: [
      [1, 1, 1],
      [1, 1, 1],
    ],
    causal: true,
  },
  { name: 'one query over a cache', kvHeads: 2, group: 2, earlier: [[1, 1, 0, 1, 1, 1]], tokens: [[1]], causal: true },
  {
    name: 'encoder with a fully padded row',
    kvHeads: 2,
    group: 1,
    earlier: [],
    tokens: [
      [1, 1, 1, 0, 0],
      [0, 0, 0, 0, 0],
      [1, 1, 1, 1, 1],
    ],
    causal: false,
  },
];

function composed(tf: Tfx, scores: Tensor4D, mask: Tensor, scale: number, group: number): Tensor {
  const [batch, kvHeads, rows, time] = scores.shape;
  const masked = tf.add(tf.reshape(tf.mul(scores, scale), [batch, kvHeads, group, rows / group, time]), mask);
  return tf.reshape(tf.softmax(masked), scores.shape);
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

test('wasm masked softmax equals the composed ops, value and gradient', async () => {
  const tf = (await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } })).tf;
  assert.equal(tf.getBackend(), 'wasm', 'runs on the wasm backend');
  assert.ok(tf.getKernel('PeftkitMaskedSoftmax', 'wasm') !== undefined, 'forward kernel installed');
  assert.ok(tf.getKernel('PeftkitMaskedSoftmaxGrad', 'wasm') !== undefined, 'gradient kernel installed');
  const rng = new Rng(11);
  const scale = 1 / Math.sqrt(48);
  const info = await tf.profile(() => {
    const mask = attentionMask(tf, [], [[1, 1]], true);
    const scores = tf.zeros([1, 1, 2, 2]) as Tensor4D;
    tf.dispose([mask, scores, maskedSoftmax(tf, scores, mask, scale, 1)]);
  });
  assert.deepEqual(
    info.kernelNames.filter((n) => /softmax|Add|Mul/i.test(n)),
    ['PeftkitMaskedSoftmax'],
    'the fused kernel replaces Mul / Add / Softmax',
  );
  for (const c of cases) {
    const batch = c.tokens.length;
    const seq = c.tokens[0]?.length as number;
    const time = (c.earlier[0]?.length ?? 0) + seq;
    const shape: [number, number, number, number] = [batch, c.kvHeads, c.group * seq, time];
    const size = shape.reduce((n, d) => n * d, 1);
    const before = tf.memory().numTensors;
    const mask = attentionMask(tf, c.earlier, c.tokens, c.causal);
    const scores = tf.tensor4d(
      Array.from({ length: size }, () => 8 * rng.normal()),
      shape,
    );
    const dy = tf.tensor4d(
      Array.from({ length: size }, () => rng.normal()),
      shape,
    );
    const loss = (f: (s: Tensor4D) => Tensor) => (s: Tensor) => tf.sum(tf.mul(f(s as Tensor4D), dy));
    const fused = maskedSoftmax(tf, scores, mask, scale, c.group);
    // the reference's intermediates are tidied away; the fused path must not need that
    const reference = tf.tidy(() => composed(tf, scores, mask, scale, c.group));
    const gradFused = tf.grad(loss((s) => maskedSoftmax(tf, s, mask, scale, c.group)))(scores);
    const gradComposed = tf.tidy(() => tf.grad(loss((s) => composed(tf, s, mask, scale, c.group)))(scores));
    assert.deepEqual(fused.shape, shape, `${c.name}: probabilities shaped like the scores`);
    const p = fused.dataSync() as Float32Array;
    const valueDiff = maxDiff(p, reference.dataSync() as Float32Array);
    assert.ok(valueDiff <= 1e-6, `${c.name}: probabilities max abs difference ${valueDiff}`);
    const gradDiff = maxDiff(gradFused.dataSync() as Float32Array, gradComposed.dataSync() as Float32Array);
    assert.ok(gradDiff <= 1e-6, `${c.name}: gradient max abs difference ${gradDiff}`);
    // a query row whose every key is masked comes out uniform, as in the composed ops
    const m = mask.dataSync();
    for (let r = 0; r < batch * c.kvHeads * c.group * seq; r++) {
      const b = Math.floor(r / (c.kvHeads * c.group * seq));
      const q = r % seq;
      const row = m.subarray((b * seq + q) * time, (b * seq + q + 1) * time);
      if (row.some((v) => v === 0)) continue;
      for (let j = 0; j < time; j++) {
        const v = p[r * time + j] as number;
        assert.ok(Math.abs(v - 1 / time) <= 1e-7, `${c.name}: fully masked row ${r} is uniform, got ${v}`);
      }
    }
    tf.dispose([mask, scores, dy, fused, reference, gradFused, gradComposed]);
    assert.equal(tf.memory().numTensors, before, `${c.name}: no tensor left behind`);
  }
});

test('wasm masked softmax kernels reject mismatched shapes and dtypes', async () => {
  const tf = (await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } })).tf;
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const scores = tf.zeros([2, 2, 6, 5]);
    const run = (name: string, inputs: Record<string, Tensor>) => () => {
      return tf.engine().runKernel(name, inputs, { scale: 1 });
    };
    const cases: [string, Record<string, Tensor>, RegExp][] = [
      ['PeftkitMaskedSoftmax', { scores, mask: tf.zeros([2, 1, 1, 4, 5]) }, /seq dividing 6/],
      ['PeftkitMaskedSoftmax', { scores, mask: tf.zeros([1, 1, 1, 3, 5]) }, /mask must be float32 \[2, 1, 1, seq, 5\]/],
      ['PeftkitMaskedSoftmax', { scores, mask: tf.zeros([2, 1, 1, 3, 5], 'int32') }, /got int32/],
      ['PeftkitMaskedSoftmax', { scores: tf.zeros([2, 6, 5]), mask: tf.zeros([2, 1, 1, 3, 5]) }, /scores must be/],
      ['PeftkitMaskedSoftmaxGrad', { probs: scores, dy: tf.zeros([2, 2, 6, 4]) }, /one shape/],
    ];
    for (const [name, inputs, message] of cases) {
      const shapes = Object.values(inputs).map((t) => t.shape.join('×'));
      assert.throws(run(name, inputs), message, `${name} rejects ${shapes.join(' and ')}`);
    }
    const ok = run('PeftkitMaskedSoftmax', { scores, mask: tf.zeros([2, 1, 1, 3, 5]) })() as Tensor;
    assert.deepEqual(ok.shape, [2, 2, 6, 5], 'a well-shaped call runs');
  });
  assert.equal(tf.memory().numTensors, before, 'rejected calls leave no tensor behind');
});

test('SIMD and JS row loops agree (the JS ones run where wasm SIMD is missing)', () => {
  assert.ok(wasmApi !== undefined, 'the runtime has WebAssembly');
  const memory = new wasmApi.Memory({ initial: 1 });
  const simd = simdRowLoops(memory);
  const js = jsRowLoops(() => memory.buffer);
  const f = new Float32Array(memory.buffer);
  const rng = new Rng(4);
  const [rows, len] = [7, 37]; // lengths that are not multiples of the 4 SIMD lanes
  const n = rows * len;
  // probabilities-like p (first n), gradients-like g (next n): the ranges the kernels see
  for (let i = 0; i < n; i++) [f[i], f[n + i]] = [Math.abs(0.1 * rng.normal()), rng.normal()];
  const bytes = 4 * n;
  const results: Float32Array[] = [];
  for (const loops of simd === null ? [js] : [simd, js]) {
    loops.scaleAdd(2 * bytes, 0, bytes, n, 0.3);
    loops.softmaxGrad(3 * bytes, 0, bytes, rows, len, 0.3);
    results.push(f.slice(2 * n, 4 * n));
  }
  const js0 = results.at(-1) as Float32Array;
  for (let i = 0; i < n; i++) {
    const expected = Math.fround(Math.fround((f[i] as number) * Math.fround(0.3)) + (f[n + i] as number));
    assert.equal(js0[i], expected, `scaleAdd element ${i}: float32 product, then float32 sum`);
  }
  if (results.length === 2) {
    const diff = maxDiff(results[0] as Float32Array, js0);
    assert.ok(diff <= 1e-6, `SIMD and JS loops differ by ${diff}`);
  }
});

test('masked softmax without the kernels (cpu) is the composed path', async () => {
  const tf = (await createKernel({ backend: 'cpu', logger: { warn() {}, info() {} } })).tf;
  assert.equal(tf.getKernel('PeftkitMaskedSoftmax', 'cpu'), undefined, 'cpu has no fused kernel');
  const rng = new Rng(2);
  const mask = attentionMask(tf, [[1, 0]], [[0, 1, 1]], true);
  const scores = tf.tensor4d(
    Array.from({ length: 2 * 6 * 5 }, () => rng.normal()),
    [1, 2, 6, 5],
  );
  const got = maskedSoftmax(tf, scores, mask, 0.5, 2).dataSync();
  const expected = composed(tf, scores, mask, 0.5, 2).dataSync();
  assert.deepEqual(Array.from(got), Array.from(expected), 'same values as the composed ops');
});
