import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { isPeftkitError } from '../packages/io/src/errors.ts';
import { registerAllGradients } from '../core/src/runtime/gradients/index.ts';
import { createTensorRuntime } from './support/runtime.ts';

// Finite-difference checks of every gradient peftkit registers, on every in-process backend. The
// runtime registers the gradients (and peftkit's kernels) on the shared tfjs-core instance used here.

type T = tf.Tensor;
type Fn = (...xs: T[]) => T;
interface Input {
  shape: number[];
  values: Float32Array;
}

/** mulberry32: tiny seeded PRNG so every run checks the same points. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = rng(1234);
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Uniform in [lo, hi). */
function input(shape: number[], lo = -1, hi = 1): Input {
  return { shape, values: Float32Array.from({ length: size(shape) }, () => lo + (hi - lo) * random()) };
}

/** Values at least 0.2 away from 0, for functions with a kink there (relu, abs, ...). */
function awayFromZero(shape: number[]): Input {
  const x = input(shape);
  return { shape, values: x.values.map((v) => (v < 0 ? v - 0.2 : v + 0.2)) };
}

const EPS = 1e-2;
const TOL = 2e-2;

/**
 * Compares tf.grads of L = sum(f(xs) * w) (w random, so no gradient is trivially symmetric) with
 * central differences of the same L, the dot product taken in float64 to keep roundoff low.
 * Also asserts the check leaks no tensors.
 */
function checkGrad(f: Fn, inputs: Input[], tol = TOL): void {
  const before = tf.memory().numTensors;
  const outSize = tf.tidy(() => f(...inputs.map((x) => tf.tensor(x.values, x.shape))).size);
  const w = Float32Array.from({ length: outSize }, () => 2 * random() - 1);
  const loss = (vals: Float32Array[]): number => {
    const y = tf.tidy(() => f(...vals.map((v, i) => tf.tensor(v, inputs[i]?.shape))).dataSync());
    let acc = 0;
    for (let i = 0; i < y.length; i++) acc += (y[i] ?? 0) * (w[i] ?? 0);
    return acc;
  };
  const analytic = tf.tidy(() => {
    const wT = tf.tensor(w);
    const xs = inputs.map((x) => tf.tensor(x.values, x.shape));
    const gs = tf.grads((...ts: T[]) => tf.sum(tf.mul(tf.reshape(f(...ts), [-1]), wT)))(xs);
    return gs.map((g) => Float32Array.from(g.dataSync()));
  });
  assert.equal(tf.memory().numTensors, before, 'gradient computation leaked tensors');
  const vals = inputs.map((x) => Float32Array.from(x.values));
  vals.forEach((v, i) => {
    const numeric = new Float64Array(v.length);
    for (let j = 0; j < v.length; j++) {
      const orig = v[j] ?? 0;
      v[j] = orig + EPS;
      const plus = loss(vals);
      v[j] = orig - EPS;
      const minus = loss(vals);
      v[j] = orig;
      numeric[j] = (plus - minus) / (2 * EPS);
    }
    const a = analytic[i] ?? new Float32Array();
    const scale = Math.max(1e-2, ...Array.from(numeric, Math.abs));
    for (let j = 0; j < v.length; j++) {
      const err = Math.abs((a[j] ?? Number.NaN) - (numeric[j] ?? 0));
      assert.ok(
        err <= tol * scale,
        `input ${i} element ${j}: analytic ${a[j]} vs numeric ${numeric[j]} (scale ${scale})`,
      );
    }
  });
  assert.equal(tf.memory().numTensors, before, 'finite differences leaked tensors');
}

// ---- composites used by transformer blocks --------------------------------------------------------

function layerNorm(x: T, gamma: T, beta: T): T {
  const mean = tf.mean(x, -1, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), -1, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta);
}

function rmsNorm(x: T, gamma: T): T {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))), gamma);
}

function geluTanh(x: T): T {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

function geluErf(x: T): T {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.div(x, Math.SQRT2)), 1));
}

const silu = (x: T): T => tf.mul(x, tf.sigmoid(x));

/** [t, t] additive mask: 0 on and below the diagonal, -1e9 above. */
function causalMask(t: number): T {
  return tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([t, t]), -1, 0)), -1e9));
}

/** One pre-norm causal self-attention block with a LoRA adapter on the query projection. */
function attention(x: T, wq: T, wk: T, wv: T, wo: T, loraA: T, loraB: T, gamma: T, beta: T): T {
  const [t, d] = x.shape as [number, number];
  const heads = 2;
  const dh = d / heads;
  const h = layerNorm(x, gamma, beta);
  const split = (m: T) => tf.transpose(tf.reshape(m, [t, heads, dh]), [1, 0, 2]);
  const q = split(tf.add(tf.matMul(h, wq), tf.matMul(tf.matMul(h, loraA), loraB)));
  const k = split(tf.matMul(h, wk));
  const v = split(tf.matMul(h, wv));
  const scores = tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(dh)), causalMask(t));
  const ctx = tf.matMul(tf.softmax(scores, -1), v);
  const merged = tf.reshape(tf.transpose(ctx, [1, 0, 2]), [t, d]);
  return tf.add(x, tf.matMul(merged, wo));
}

// ---- cases --------------------------------------------------------------------------------------

const cases: Record<string, () => void> = {
  'matMul, all four transpose combinations': () => {
    checkGrad((a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), [input([3, 4]), input([4, 2])]);
    checkGrad((a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, false), [input([4, 3]), input([4, 2])]);
    checkGrad((a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true), [input([3, 4]), input([2, 4])]);
    checkGrad((a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, true), [input([4, 3]), input([2, 4])]);
  },
  'batched and broadcast matMul': () => {
    checkGrad((a, b) => tf.matMul(a, b), [input([2, 3, 4]), input([2, 4, 2])]);
    checkGrad((a, b) => tf.matMul(a, b, true, true), [input([2, 4, 3]), input([2, 2, 4])]);
    checkGrad((a, b) => tf.matMul(a, b), [input([1, 3, 4]), input([2, 4, 2])]);
    checkGrad((a, b) => tf.matMul(a, b, false, true), [input([3, 4]), input([2, 2, 4])]);
    checkGrad((a, b) => tf.matMul(a, b, true, false), [input([2, 4, 3]), input([4, 2])]);
  },
  'gather / embedding lookup with repeated indices': () => {
    const ids = tf.tensor1d([0, 2, 2, 4, 0, 2], 'int32');
    const ids2 = tf.tensor2d(
      [
        [1, 1],
        [0, 2],
      ],
      [2, 2],
      'int32',
    );
    checkGrad((table) => tf.gather(table, ids), [input([5, 3])]);
    checkGrad((table) => tf.gather(table, ids2), [input([4, 3])]);
    checkGrad((x) => tf.gather(x, ids2, 1), [input([2, 3, 2])]);
    // UnsortedSegmentSum has no wasm kernel; its gradient is only checked where the forward exists.
    if (tf.getKernel('UnsortedSegmentSum', tf.getBackend()) !== undefined) {
      checkGrad((x) => tf.unsortedSegmentSum(x, ids, 5), [input([6, 2])]);
    }
    ids.dispose();
    ids2.dispose();
  },
  'softmax with a causal mask': () => {
    const mask = causalMask(4);
    checkGrad((s) => tf.softmax(tf.add(s, mask)), [input([2, 4, 4], -2, 2)]);
    mask.dispose();
  },
  'LayerNorm and RMSNorm': () => {
    checkGrad(layerNorm, [input([3, 6], -2, 2), input([6]), input([6])]);
    checkGrad(rmsNorm, [input([3, 6], -2, 2), input([6])]);
    checkGrad(
      (x) => {
        const { mean, variance } = tf.moments(x, -1, true);
        return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-3)));
      },
      [input([2, 5], -2, 2)],
    );
  },
  'GELU (tanh and erf) and SiLU': () => {
    checkGrad(geluTanh, [input([12], -3, 3)]);
    checkGrad(geluErf, [input([12], -3, 3)]);
    checkGrad(silu, [input([12], -3, 3)]);
  },
  'concat, slice, split, stack, unstack': () => {
    checkGrad((a, b) => tf.slice(tf.concat([a, b], 1), [0, 1], [2, 3]), [input([2, 2]), input([2, 3])]);
    checkGrad((a, b) => tf.concat([a, b], -1), [input([2, 1]), input([2, 2])]);
    checkGrad(
      (x) => {
        const [p, q] = tf.split(x, [1, 3], 1);
        return tf.mul(tf.sum(p as T), q as T);
      },
      [input([2, 4])],
    );
    checkGrad(
      (a, b) => {
        const [u, v] = tf.unstack(tf.stack([a, b], 1), 0);
        return tf.mul(u as T, tf.exp(v as T));
      },
      [input([2, 3]), input([2, 3])],
    );
    checkGrad((x) => tf.slice(x, [1], [-1]), [input([3, 2])]);
  },
  'cross entropy via logSoftmax and tf.losses': () => {
    const labels = tf.oneHot(tf.tensor1d([2, 0, 1], 'int32'), 4);
    checkGrad((logits) => tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), -1))), [input([3, 4], -2, 2)]);
    checkGrad((logits) => tf.losses.softmaxCrossEntropy(labels, logits), [input([3, 4], -2, 2)]);
    labels.dispose();
  },
  'element-wise arithmetic with broadcasting': () => {
    const pos = (shape: number[]) => input(shape, 0.5, 2);
    checkGrad((a, b) => tf.add(a, b), [input([2, 3]), input([3])]);
    checkGrad((a, b) => tf.sub(a, b), [input([2, 3]), input([2, 1])]);
    checkGrad((a, b) => tf.mul(a, b), [input([2, 1, 3]), input([4, 1])]);
    checkGrad((a, b) => tf.div(a, b), [input([2, 3]), pos([3])]);
    checkGrad((a, b) => tf.pow(a, b), [pos([2, 3]), input([2, 3])]);
    checkGrad((a, b) => tf.squaredDifference(a, b), [input([2, 3]), input([1, 3])]);
    // |a - b| >= 0.15 keeps the finite differences off the kink.
    checkGrad((a, b) => tf.maximum(a, b), [awayFromZero([2, 3]), input([3], -0.05, 0.05)]);
    checkGrad((a, b) => tf.minimum(a, b), [awayFromZero([2, 3]), input([3], -0.05, 0.05)]);
    checkGrad((a, b, c) => tf.addN([a, b, c, a]), [input([2, 2]), input([2, 2]), input([2, 2])]);
    checkGrad((a, b) => tf.atan2(a, b), [pos([4]), pos([4])]);
    // a / b stays clear of integers, so mod is smooth around these points.
    checkGrad(
      (a, b) => tf.mod(a, b),
      [
        { shape: [3], values: Float32Array.from([2.5, 3.3, 0.6]) },
        { shape: [3], values: Float32Array.from([1, 2, 1]) },
      ],
    );
  },
  'element-wise unary math and activations': () => {
    const pos = input([6], 0.5, 2);
    const x = input([6], -2, 2);
    const kinked = awayFromZero([6]);
    for (const f of [
      tf.neg,
      tf.square,
      tf.exp,
      tf.expm1,
      tf.sin,
      tf.cos,
      tf.tanh,
      tf.sigmoid,
      tf.softplus,
      tf.erf,
      tf.atan,
      tf.sinh,
      tf.cosh,
      tf.clone,
    ]) {
      checkGrad((t) => f(t), [x]);
    }
    for (const f of [tf.sqrt, tf.rsqrt, tf.log, tf.log1p, tf.reciprocal]) checkGrad((t) => f(t), [pos]);
    for (const f of [tf.abs, tf.relu, tf.elu, tf.selu]) checkGrad((t) => f(t), [kinked]);
    checkGrad((t) => tf.relu6(tf.mul(t, 4)), [kinked]);
    checkGrad((t) => tf.leakyRelu(t, 0.1), [kinked]);
    checkGrad((t, a) => tf.prelu(t, a), [awayFromZero([2, 3]), input([3], 0.1, 0.5)]);
    checkGrad((t) => tf.clipByValue(t, -0.5, 0.5), [{ shape: [4], values: Float32Array.from([-0.9, -0.2, 0.3, 0.8]) }]);
    checkGrad((t) => tf.asin(tf.mul(t, 0.5)), [x]);
    checkGrad((t) => tf.tan(tf.mul(t, 0.5)), [x]);
    checkGrad((t) => tf.acos(tf.mul(t, 0.4)), [x]);
    checkGrad((t) => tf.atanh(tf.mul(t, 0.4)), [x]);
    checkGrad((t) => tf.asinh(t), [x]);
    checkGrad((t) => tf.acosh(t), [input([6], 1.5, 3)]);
    checkGrad((t) => tf.cast(t, 'float32'), [x]);
  },
  'reductions and scans': () => {
    const distinct = { shape: [2, 3], values: Float32Array.from([0.1, 0.9, -0.5, 0.7, -0.3, 0.2]) };
    checkGrad((x) => tf.sum(x, 1), [input([2, 3])]);
    checkGrad((x) => tf.sum(x), [input([2, 3])]);
    checkGrad((x) => tf.mean(x, 0, true), [input([2, 3])]);
    checkGrad((x) => tf.max(x, 1), [distinct]);
    checkGrad((x) => tf.min(x, -1, true), [distinct]);
    checkGrad((x) => tf.max(x), [distinct]);
    checkGrad((x) => tf.prod(x, 1), [input([2, 3])]);
    checkGrad((x) => tf.prod(x, [0, 2]), [input([2, 2, 2])]);
    checkGrad((x) => tf.cumsum(x, 1), [input([2, 3])]);
    checkGrad((x) => tf.cumsum(x, 0, true, true), [input([3, 2])]);
    checkGrad((x) => tf.norm(x), [input([5])]);
  },
  'shape kernels': () => {
    checkGrad((x) => tf.tile(x, [2, 3]), [input([2, 2])]);
    checkGrad((x) => tf.tile(x, [1, 2, 1]), [input([2, 1, 3])]);
    checkGrad((x) => tf.broadcastTo(x, [3, 2, 4]), [input([2, 1])]);
    checkGrad(
      (x) =>
        tf.pad(
          x,
          [
            [1, 0],
            [0, 2],
          ],
          0.5,
        ),
      [input([2, 2])],
    );
    checkGrad((x) => tf.reverse(x, 1), [input([2, 3])]);
    checkGrad((x) => tf.transpose(tf.expandDims(x, 1), [2, 0, 1]), [input([2, 3])]);
    checkGrad((x) => tf.squeeze(tf.reshape(x, [1, 6, 1])), [input([2, 3])]);
    checkGrad(
      (a, b) => tf.where(tf.greater(a, b), tf.exp(a), tf.mul(b, 2)),
      [awayFromZero([2, 3]), input([3], -0.05, 0.05)],
    );
    checkGrad(
      (x) => tf.mul(tf.floor(tf.add(x, 0.5)), x),
      [{ shape: [4], values: Float32Array.from([0.1, 0.3, 0.7, 1.2]) }],
    );
    checkGrad((x) => tf.dropout(x, 0.5, undefined, 7), [input([4, 4])]);
  },
  'LoRA attention block end to end': () => {
    const d = 4;
    checkGrad(attention, [
      input([3, d]),
      input([d, d], -0.5, 0.5),
      input([d, d], -0.5, 0.5),
      input([d, d], -0.5, 0.5),
      input([d, d], -0.5, 0.5),
      input([d, 2], -0.5, 0.5),
      input([2, d], -0.5, 0.5),
      input([d], 0.5, 1.5),
      input([d], -0.2, 0.2),
    ]);
  },
  'variableGrads of a LoRA step does not grow tensor count': () => {
    const x = tf.tensor(input([3, 4]).values, [3, 4]);
    const frozen = [0, 1, 2, 3].map(() => tf.tensor(input([4, 4], -0.5, 0.5).values, [4, 4]));
    const loraA = tf.variable(tf.tensor(input([4, 2], -0.5, 0.5).values, [4, 2]), true, `loraA_${tf.getBackend()}`);
    const loraB = tf.variable(tf.zeros([2, 4]), true, `loraB_${tf.getBackend()}`);
    const gamma = tf.ones([4]);
    const beta = tf.zeros([4]);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => {
        const [wq, wk, wv, wo] = frozen as [T, T, T, T];
        return tf.mean(tf.square(attention(x, wq, wk, wv, wo, loraA, loraB, gamma, beta))) as tf.Scalar;
      }, [loraA, loraB]);
      assert.deepEqual(Object.keys(grads).sort(), [loraA.name, loraB.name].sort());
      assert.ok(Number.isFinite(value.dataSync()[0]));
      // B starts at zero, so A gets no gradient but B must.
      assert.ok(tf.tidy(() => tf.max(tf.abs(grads[loraB.name] as T)).dataSync()[0] ?? 0) > 0);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, ...frozen, loraA, loraB, gamma, beta]);
  },
  'gather with batchDims is rejected with a clear error': () => {
    const ids = tf.tensor2d([[0], [1]], [2, 1], 'int32');
    const x = tf.ones([2, 3]);
    assert.throws(
      () => tf.grad((t: T) => tf.sum(tf.gather(t, ids, 1, 1)))(x),
      (err: unknown) => isPeftkitError(err, 'PEFTKIT_E_GRAD_UNSUPPORTED'),
    );
    tf.dispose([ids, x]);
  },
};

test('registerAllGradients is idempotent and keeps existing gradients', async () => {
  await createTensorRuntime({ backend: 'cpu' });
  const sum = tf.getGradient('Sum');
  assert.ok(sum !== undefined);
  registerAllGradients(tf);
  assert.equal(tf.getGradient('Sum'), sum);
  for (const name of ['BatchMatMul', 'GatherV2', 'Softmax', 'Erf', 'Select', 'Tile', 'Step', 'Less']) {
    assert.ok(tf.getGradient(name) !== undefined, `${name} has a gradient`);
  }
  // Deliberately non-differentiable kernels stay unregistered.
  assert.equal(tf.getGradient('Einsum'), undefined);
  assert.equal(tf.getGradient('StridedSlice'), undefined);
});

for (const backend of ['cpu', 'wasm']) {
  for (const [name, run] of Object.entries(cases)) {
    test(`${backend}: ${name}`, async () => {
      const runtime = await createTensorRuntime({ backend });
      assert.equal(runtime.tf.getBackend(), backend);
      assert.equal(tf.getBackend(), backend, 'runtime and test share one tfjs-core instance');
      run();
    });
  }
}
