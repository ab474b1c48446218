import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { createKernel } from 'peftkit';
import { applyRope, composedRope, ropeTables } from '../packages/models/src/model/rope.ts';
import { jsRopeLoops, simdRopeLoops } from '../adapters/tensor/kernels/simd-rope.ts';
import { wasmApi } from '../adapters/tensor/kernels/wasm-asm.ts';

// peftkit's wasm RoPE kernel (adapters/tensor/kernels/wasm-rope.ts) against the split / neg / concat / mul / add
// composition it replaces, on the same backend: values and autodiff gradients, left-padded and offset positions.

type Tf = Awaited<ReturnType<typeof createKernel>>['tf'];

const quiet = { logger: { warn() {}, info() {} } };

/** [batch, seq, heads, headDim]; row b is left-padded by b positions, and the last row starts at 100 (a cache). */
const shapes: [number, number, number, number][] = [
  [1, 5, 1, 2],
  [3, 7, 6, 48],
  [2, 4, 1, 48],
  [2, 9, 6, 2],
  [4, 3, 2, 8],
];

function positions(batch: number, seq: number): number[][] {
  const rows: number[][] = [];
  for (let b = 0; b < batch; b++) {
    const cached = b === batch - 1 && batch > 1;
    rows.push(Array.from({ length: seq }, (_, s) => (cached ? 100 + s : Math.max(0, s - b))));
  }
  return rows;
}

const normals = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.normal());

/** max |a − b| / max(1, |b|): absolute below 1, one float32 rounding's worth of slack for larger entries. */
function maxDiff(a: Tensor, b: Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  assert.equal(x.length, y.length, 'same number of elements');
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const want = y[i] as number;
    worst = Math.max(worst, Math.abs((x[i] as number) - want) / Math.max(1, Math.abs(want)));
  }
  return worst;
}

function kernelNames(tf: Tf, fn: () => Tensor | Tensor[]): Promise<string[]> {
  // customGrad's own (unnamed) entry is left out
  return tf.profile(() => fn() as Tensor).then((info) => info.kernels.map((k) => k.name).filter((name) => name !== ''));
}

test('wasm RoPE kernel equals the composition, value and gradient', async () => {
  const tf = (await createKernel({ backend: 'wasm', ...quiet })).tf;
  assert.equal(tf.getBackend(), 'wasm');
  assert.ok(tf.getKernel('PeftkitRope', 'wasm') !== undefined, 'the wasm backend has the RoPE kernel');
  const rng = new Rng(11);
  const before = tf.memory().numTensors;
  for (const shape of shapes) {
    const [batch, seq, heads, dim] = shape;
    const label = `[${shape.join(', ')}]`;
    const size = batch * seq * heads * dim;
    const x = tf.tensor4d(normals(rng, size), shape);
    const r = tf.tensor4d(normals(rng, size), shape);
    const pos = positions(batch, seq);
    const { cos, sin } = ropeTables(tf, pos, dim, 10000);

    // the composition leaves its intermediates to the caller's tidy, as inside the model
    const fused = tf.tidy(() => applyRope(tf, x, cos, sin));
    const composed = tf.tidy(() => composedRope(tf, x, cos, sin));
    assert.deepEqual(fused.shape, shape, `${label}: output shape`);
    const diff = maxDiff(fused, composed);
    assert.equal(diff, 0, `${label}: value max difference ${diff} (the same float32 steps)`);

    // tables built inside the differentiated function, as the model does: the backward pass needs its saved copies
    const loss = (rope: typeof applyRope) => (input: Tensor) => {
      const t = ropeTables(tf, pos, dim, 10000);
      return tf.sum(tf.mul(rope(tf, input as Tensor4D, t.cos, t.sin), r));
    };
    const gFused = tf.valueAndGrad(loss(applyRope))(x);
    const gComposed = tf.valueAndGrad(loss(composedRope))(x);
    const vDiff = maxDiff(gFused.value, gComposed.value);
    // a float32 sum over thousands of terms: its rounding, not the rotation, sets this tolerance
    assert.ok(vDiff <= 1e-5, `${label}: loss difference ${vDiff}`);
    const gDiff = maxDiff(gFused.grad, gComposed.grad);
    assert.equal(gDiff, 0, `${label}: gradient max difference ${gDiff} (the same float32 steps)`);

    tf.dispose([x, r, cos, sin, fused, composed, gFused.value, gFused.grad, gComposed.value, gComposed.grad]);
  }
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
});

test('wasm RoPE runs one kernel per direction', async () => {
  const tf = (await createKernel({ backend: 'wasm', ...quiet })).tf;
  const { cos, sin } = ropeTables(tf, positions(2, 6), 8, 10000);
  const x = tf.randomNormal([2, 6, 3, 8]) as Tensor4D;
  const forward = await kernelNames(tf, () => applyRope(tf, x, cos, sin));
  assert.deepEqual(forward, ['PeftkitRope'], `forward kernels: ${forward.join(', ')}`);
  const loss = (input: Tensor) => tf.sum(applyRope(tf, input as Tensor4D, cos, sin));
  const backward = await kernelNames(tf, () => tf.grad(loss)(x));
  const listed = backward.join(', ');
  assert.equal(backward.filter((name) => name === 'PeftkitRope').length, 2, `rotations: ${listed}`);
  for (const name of ['SplitV', 'Concat', 'Neg']) assert.ok(!backward.includes(name), `no ${name} in ${listed}`);
  tf.dispose([x, cos, sin]);
});

test('wasm RoPE kernel rejects shapes it does not handle', async () => {
  const tf = (await createKernel({ backend: 'wasm', ...quiet })).tf;
  const run = (x: Tensor, cos: Tensor, sin: Tensor) => () => {
    tf.engine().runKernel('PeftkitRope', { x, cos, sin }, { inverse: false });
  };
  const { cos, sin } = ropeTables(tf, positions(2, 3), 4, 10000);
  const odd = tf.zeros([2, 3, 1, 5]);
  const rank3 = tf.zeros([2, 3, 4]);
  const ints = tf.zeros([2, 3, 1, 4], 'int32');
  const other = tf.zeros([1, 3, 1, 4]);
  const good = tf.zeros([2, 3, 1, 4]);
  assert.throws(run(odd, odd, odd), /PeftkitRope: headDim must be even/, 'odd headDim');
  assert.throws(run(rank3, cos, sin), /PeftkitRope: x must be float32 \[batch, seq, heads, headDim\], got/, 'rank 3');
  assert.throws(run(ints, cos, sin), /PeftkitRope: x must be float32/, 'int32 x');
  assert.throws(run(good, other, sin), /PeftkitRope: cos must be float32 \[2, 3, 1, 4\]/, 'cos batch mismatch');
  // applyRope itself keeps the composition for broadcast tables rather than failing
  const x = tf.ones([2, 3, 2, 4]) as Tensor4D;
  const broadcast = ropeTables(tf, positions(1, 3), 4, 10000);
  const y = tf.tidy(() => applyRope(tf, x, broadcast.cos, broadcast.sin));
  const z = tf.tidy(() => composedRope(tf, x, broadcast.cos, broadcast.sin));
  assert.ok(maxDiff(y, z) === 0, 'broadcast tables use the composition');
  tf.dispose([cos, sin, odd, rank3, ints, other, good, x, broadcast.cos, broadcast.sin, y, z]);
});

test('cpu backend has no RoPE kernel and keeps the composition', async () => {
  const tf = (await createKernel({ backend: 'cpu', ...quiet })).tf;
  assert.equal(tf.getKernel('PeftkitRope', 'cpu'), undefined, 'no cpu kernel');
  const { cos, sin } = ropeTables(tf, positions(2, 4), 6, 10000);
  const x = tf.randomNormal([2, 4, 2, 6]) as Tensor4D;
  const diff = tf.tidy(() => maxDiff(applyRope(tf, x, cos, sin), composedRope(tf, x, cos, sin)));
  assert.equal(diff, 0, 'same ops on cpu');
  tf.dispose([x, cos, sin]);
});

test('the RoPE SIMD pass equals its JS version bit for bit, both directions', () => {
  if (wasmApi === undefined) return;
  const memory = new wasmApi.Memory({ initial: 8 }); // 8 × 64 KiB: 131072 floats
  const simd = simdRopeLoops(memory);
  assert.ok(simd !== null, 'SIMD instantiates on a plain Memory');
  const js = jsRopeLoops(() => memory.buffer);
  const h = new Float32Array(memory.buffer);
  const rng = new Rng(21);
  // [rows, heads, dim]: half a multiple of 4 lanes, not one, and a single pair
  for (const [rows, heads, dim] of [
    [3, 6, 48],
    [2, 3, 14],
    [4, 1, 2],
  ] as const) {
    for (let i = 0; i < 40000; i++) h[i] = rng.normal();
    for (const sign of [1, -1]) {
      // x, cos, sin at 0, 10000, 20000 floats; outputs at 50000 and 70000
      simd.rotate(4 * 50000, 0, 4 * 10000, 4 * 20000, rows, heads, dim, sign);
      js.rotate(4 * 70000, 0, 4 * 10000, 4 * 20000, rows, heads, dim, sign);
      for (let i = 0; i < rows * heads * dim; i++) {
        assert.equal(h[50000 + i], h[70000 + i], `[${rows}, ${heads}, ${dim}] sign ${sign} [${i}]`);
      }
    }
  }
});
