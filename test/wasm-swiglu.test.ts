import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from '@tensorflow/tfjs-core';
import { Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { composedSwiGlu, swiGlu } from '../packages/models/src/model/swiglu.ts';
import { jsSwiGluLoops, simdSwiGluLoops } from '../adapters/tensor/kernels/simd-swiglu.ts';
import { wasmApi } from '../adapters/tensor/kernels/wasm-asm.ts';

// The fused SwiGLU silu(gate) · up (adapters/tensor/kernels/wasm-swiglu.ts) against the composition it replaces
// (Sigmoid, Mul, Mul, differentiated by autodiff) on the same wasm backend: values, both gradients, odd last dims.

type Tfx = Awaited<ReturnType<typeof createKernel>>['tf'];

const quiet = { logger: { warn() {}, info() {} } };

/** Batch > 1, last dims that are and are not multiples of the 4 SIMD lanes, a single element. */
const shapes: number[][] = [
  [1, 1, 1],
  [2, 3, 37],
  [4, 5, 64],
  [3, 7, 13],
  [2, 1, 6],
];

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Worst |fused − composed| / scale over the elements, scale the float64 sum of the magnitudes of the terms each
 * result is built from. Both sides take σ from the same Sigmoid kernel and round each of at most 4 float32 steps
 * (2^-24 ≈ 6e-8 each), so even if their orders differed they would stay within 2 · 4 · 6e-8 ≈ 5e-7 of that scale;
 * 1e-6 leaves slack for that without hiding a wrong formula. A scale keeps terms that cancel (g ≈ −1.28) fair.
 */
function worst(got: Tensor, expected: Tensor, scale: (i: number) => number): number {
  const [a, b] = [got.dataSync(), expected.dataSync()];
  assert.equal(a.length, b.length, 'same number of elements');
  let w = 0;
  for (let i = 0; i < a.length; i++) {
    w = Math.max(w, Math.abs((a[i] as number) - (b[i] as number)) / (scale(i) + 1e-30));
  }
  return w;
}

test('wasm SwiGLU kernels equal the composed ops, value and both gradients', async () => {
  const tf = (await createKernel({ backend: 'wasm', ...quiet })).tf;
  assert.equal(tf.getBackend(), 'wasm', 'runs on the wasm backend');
  assert.ok(tf.getKernel('PeftkitSwiGlu', 'wasm') !== undefined, 'forward kernel installed');
  assert.ok(tf.getKernel('PeftkitSwiGluGrad', 'wasm') !== undefined, 'gradient kernel installed');
  const rng = new Rng(17);
  const normals = (n: number, s: number) => Array.from({ length: n }, () => s * rng.normal());
  for (const shape of shapes) {
    const size = shape.reduce((n, d) => n * d, 1);
    const before = tf.memory().numTensors;
    // gate wide enough to reach σ's flat ends and its cancellation point
    const [gate, up, r] = [4, 1, 1].map((scale) => tf.tensor(normals(size, scale), shape)) as [Tensor, Tensor, Tensor];
    const loss = (f: typeof swiGlu) => (g: Tensor, u: Tensor) => tf.sum(tf.mul(f(tf, g, u), r));
    const fused = swiGlu(tf, gate, up);
    // the reference's intermediates are tidied away; the fused path must not need that
    const reference = tf.tidy(() => composedSwiGlu(tf, gate, up));
    const [dGate, dUp] = tf.grads(loss(swiGlu))([gate, up]) as [Tensor, Tensor];
    const [refGate, refUp] = tf.tidy(() => tf.grads(loss(composedSwiGlu))([gate, up])) as [Tensor, Tensor];
    const [g, u, dy] = [gate.dataSync(), up.dataSync(), r.dataSync()];
    const at = (x: Float32Array | Int32Array | Uint8Array, i: number) => x[i] as number;
    const s = (i: number) => sigmoid(at(g, i));
    const name = `[${shape.join(', ')}]`;
    assert.deepEqual(fused.shape, shape, `${name}: result shaped like gate`);
    const valueDiff = worst(fused, reference, (i) => Math.abs(at(g, i) * s(i) * at(u, i)));
    assert.ok(valueDiff <= 1e-6, `${name}: value differs by ${valueDiff} of its scale`);
    const upDiff = worst(dUp, refUp, (i) => Math.abs(at(dy, i) * at(g, i) * s(i)));
    assert.ok(upDiff <= 1e-6, `${name}: dUp differs by ${upDiff} of its scale`);
    const gateScale = (i: number) => Math.abs(at(dy, i) * at(u, i) * s(i)) * (1 + Math.abs(at(g, i)) * (1 - s(i)));
    const gateDiff = worst(dGate, refGate, gateScale);
    assert.ok(gateDiff <= 1e-6, `${name}: dGate differs by ${gateDiff} of its scale`);
    tf.dispose([gate, up, r, fused, reference, dGate, dUp, refGate, refUp]);
    assert.equal(tf.memory().numTensors, before, `${name}: no tensor left behind`);
  }
});

test('the fused kernels replace Sigmoid / Multiply / Sub / Add in both directions', async () => {
  const tf = (await createKernel({ backend: 'wasm', ...quiet })).tf;
  const before = tf.memory().numTensors;
  const info = await tf.profile(() => {
    const [gate, up, dy] = [tf.ones([2, 3, 5]), tf.ones([2, 3, 5]), tf.ones([2, 3, 5])];
    // dy given: nothing but the SwiGLU and its gradient runs
    const grads = tf.grads((g: Tensor, u: Tensor) => swiGlu(tf, g, u))([gate, up], dy);
    tf.dispose([gate, up, dy, swiGlu(tf, gate, up), ...grads]);
  });
  const names = info.kernelNames.filter((n) => /SwiGlu|Sigmoid|Multiply|Sub|Add/.test(n));
  const expected = ['PeftkitSwiGlu', 'PeftkitSwiGluGrad'];
  assert.deepEqual([...new Set(names)], expected, `kernels that ran: ${names.join(', ')}`);
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
});

test('wasm SwiGLU kernels reject mismatched shapes and dtypes', async () => {
  const tf = (await createKernel({ backend: 'wasm', ...quiet })).tf;
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const gate = tf.zeros([2, 3, 5]);
    const run = (name: string, inputs: Record<string, Tensor>) => () => tf.engine().runKernel(name, inputs, {});
    const cases: [string, Record<string, Tensor>, RegExp][] = [
      ['PeftkitSwiGlu', { gate, up: tf.zeros([2, 3, 4]) }, /up must be float32 shaped like gate, got gate float32/],
      ['PeftkitSwiGlu', { gate, up: tf.zeros([2, 3, 4]) }, /, up float32 \[2, 3, 4\]$/],
      ['PeftkitSwiGlu', { gate, up: tf.zeros([1, 3, 5]) }, /up must be float32 shaped like gate/],
      ['PeftkitSwiGlu', { gate, up: tf.zeros([2, 3, 5], 'int32') }, /up int32 \[2, 3, 5\]/],
      ['PeftkitSwiGlu', { gate: tf.zeros([2, 3, 5], 'int32'), up: gate }, /gate must be float32/],
      ['PeftkitSwiGluGrad', { gate, up: gate, dy: tf.zeros([2, 15]) }, /PeftkitSwiGluGrad: dy must be float32 shaped/],
    ];
    for (const [name, inputs, message] of cases) {
      const shapes = Object.values(inputs).map((t) => `${t.dtype} ${t.shape.join('×')}`);
      assert.throws(run(name, inputs), message, `${name} rejects ${shapes.join(' and ')}`);
    }
    const ok = run('PeftkitSwiGluGrad', { gate, up: gate, dy: gate })() as Tensor[];
    assert.deepEqual(
      ok.map((t) => t.shape),
      [gate.shape, gate.shape],
      'a well-shaped call gives dGate and dUp',
    );
    // shapes the kernels refuse keep the composition (broadcasting Mul) instead of failing
    const broadcast = swiGlu(tf, gate, tf.ones([1, 1, 5]));
    assert.deepEqual(broadcast.shape, [2, 3, 5], 'a broadcast up falls back to the composed ops');
  });
  assert.equal(tf.memory().numTensors, before, 'rejected calls leave no tensor behind');
});

test('SIMD and JS SwiGLU loops agree (the JS ones run where wasm SIMD is missing)', () => {
  assert.ok(wasmApi !== undefined, 'the runtime has WebAssembly');
  const memory = new wasmApi.Memory({ initial: 1 });
  const simd = simdSwiGluLoops(memory);
  const js = jsSwiGluLoops(() => memory.buffer);
  const f = new Float32Array(memory.buffer);
  const rng = new Rng(5);
  const n = 203; // not a multiple of the 4 SIMD lanes
  // layout by blocks of n: g, u, dy, σ(g), then per loop set y, dGate, dUp
  for (let i = 0; i < n; i++) {
    [f[i], f[n + i], f[2 * n + i]] = [4 * rng.normal(), rng.normal(), rng.normal()];
    f[3 * n + i] = sigmoid(f[i] as number);
  }
  const results: Float32Array[] = [];
  for (const loops of simd === null ? [js] : [simd, js]) {
    f.copyWithin(4 * n, 3 * n, 4 * n);
    f.copyWithin(5 * n, 3 * n, 4 * n);
    loops.forward(16 * n, 0, 4 * n, n);
    loops.backward(20 * n, 24 * n, 0, 4 * n, 8 * n, n);
    results.push(f.slice(4 * n, 7 * n));
  }
  const js0 = results.at(-1) as Float32Array;
  const r = Math.fround;
  for (let i = 0; i < n; i++) {
    const [g, u, s] = [f[i] as number, f[n + i] as number, f[3 * n + i] as number];
    assert.equal(js0[i], r(r(g * s) * u), `forward element ${i}: float32 g · σ, then · u`);
    const [dy, t] = [f[2 * n + i] as number, (f[2 * n + i] as number) * u];
    const [dGate, dUp] = [t * s * (1 + g * (1 - s)), dy * g * s];
    const scale = Math.abs(t * s) * (1 + Math.abs(g) * (1 - s)) + 1e-30;
    const [gotGate, gotUp] = [js0[n + i] as number, js0[2 * n + i] as number];
    assert.ok(Math.abs(gotGate - dGate) <= 1e-6 * scale, `dGate element ${i}: ${gotGate} vs ${dGate}`);
    assert.ok(Math.abs(gotUp - dUp) <= 1e-6 * Math.abs(dUp), `dUp element ${i}: ${gotUp} vs ${dUp}`);
  }
  // the same float32 steps in the same order: the two must match bit for bit
  if (results.length === 2) assert.deepEqual(results[0], js0, 'SIMD and JS loops give identical float32 results');
});

test('SwiGLU without the kernels (cpu) is the composed path', async () => {
  const tf: Tfx = (await createKernel({ backend: 'cpu', ...quiet })).tf;
  assert.equal(tf.getKernel('PeftkitSwiGlu', 'cpu'), undefined, 'cpu has no fused kernel');
  const rng = new Rng(3);
  const gate = tf.tensor3d(
    Array.from({ length: 2 * 3 * 7 }, () => 3 * rng.normal()),
    [2, 3, 7],
  );
  const up = tf.tensor3d(
    Array.from({ length: 2 * 3 * 7 }, () => rng.normal()),
    [2, 3, 7],
  );
  const info = await tf.profile(() => tf.dispose(swiGlu(tf, gate, up)));
  assert.ok(info.kernelNames.includes('Sigmoid'), `composed ops ran: ${info.kernelNames.join(', ')}`);
  const got = swiGlu(tf, gate, up).dataSync();
  const expected = composedSwiGlu(tf, gate, up).dataSync();
  assert.deepEqual(Array.from(got), Array.from(expected), 'same values as the composed ops');
});
