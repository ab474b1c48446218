import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitKernel, withOriginalKernels } from '../adapters/tensor/index.ts';
import { createTensorRuntime } from './support/runtime.ts';

// peftkit's replacement kernels (wasm BatchMatMul/_FusedMatMul, UnsortedSegmentSum on wasm and cpu)
// against plain-loop references. Inputs are small integers so every float32 sum is exact and results
// can be compared with strict equality whatever order a kernel sums in.

const BACKENDS = ['cpu', 'wasm'] as const;

/** mulberry32: seeded so every run checks the same values. */
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
const random = rng(42);
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
/** Integers in [-3, 3]. */
const ints = (shape: readonly number[]) =>
  Float32Array.from({ length: size(shape) }, () => Math.floor(random() * 7) - 3);

/** Reference batched product with TF broadcasting of the outer dims, written as plainly as possible. */
function refMatMul(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean, tB: boolean) {
  const [ar, ac] = aShape.slice(-2) as [number, number];
  const [br, bc] = bShape.slice(-2) as [number, number];
  const m = tA ? ac : ar;
  const k = tA ? ar : ac;
  const n = tB ? br : bc;
  const rank = Math.max(aShape.length, bShape.length) - 2;
  const pad = (s: number[]) => [...new Array<number>(rank - (s.length - 2)).fill(1), ...s.slice(0, -2)];
  const oa = pad(aShape);
  const ob = pad(bShape);
  const outer = oa.map((d, i) => Math.max(d, ob[i] as number));
  const out = new Float32Array(size(outer) * m * n);
  for (let o = 0; o < size(outer); o++) {
    // Decompose o into coordinates, then recompose per operand with broadcast dims pinned to 0.
    let rest = o;
    let ia = 0;
    let ib = 0;
    const coords: number[] = [];
    for (let d = rank - 1; d >= 0; d--) {
      coords[d] = rest % (outer[d] as number);
      rest = Math.floor(rest / (outer[d] as number));
    }
    for (let d = 0; d < rank; d++) {
      ia = ia * (oa[d] as number) + ((oa[d] as number) === 1 ? 0 : (coords[d] as number));
      ib = ib * (ob[d] as number) + ((ob[d] as number) === 1 ? 0 : (coords[d] as number));
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) {
          const av = a[ia * m * k + (tA ? p * m + i : i * k + p)] as number;
          const bv = b[ib * k * n + (tB ? j * k + p : p * n + j)] as number;
          sum += av * bv;
        }
        out[o * m * n + i * n + j] = sum;
      }
    }
  }
  return { values: out, shape: [...outer, m, n] };
}

/** [aShape (untransposed logical m x k), bShape (k x n)] families, odd sizes on purpose. */
const FAMILIES: Array<{ name: string; a: number[]; b: number[] }> = [
  { name: '2-D', a: [5, 7], b: [7, 3] },
  { name: 'batched', a: [3, 5, 7], b: [3, 7, 4] },
  { name: 'A [b,m,k] x B [1,k,n]', a: [3, 5, 7], b: [1, 7, 4] },
  { name: 'A [1,m,k] x B [b,k,n]', a: [1, 5, 7], b: [3, 7, 4] },
  { name: 'A 2-D x B 3-D', a: [5, 7], b: [3, 7, 4] },
  { name: 'A 3-D x B 2-D', a: [3, 5, 7], b: [7, 4] },
  { name: 'rank 4 broadcast', a: [2, 3, 5, 7], b: [3, 7, 4] },
  { name: 'vectors', a: [1, 9], b: [9, 1] },
  // x·Wᵀ up to 64 rows runs as (W·xᵀ)ᵀ on wasm without a BLAS: both sides of that boundary
  { name: '64 rows, wide B', a: [64, 9], b: [9, 70] },
  { name: '65 rows, wide B', a: [65, 9], b: [9, 70] },
];

/** Stored shape of an operand whose logical last two dims are [r, c]. */
const stored = (shape: number[], transpose: boolean) =>
  transpose ? [...shape.slice(0, -2), shape[shape.length - 1] as number, shape[shape.length - 2] as number] : shape;

for (const backend of BACKENDS) {
  test(`${backend}: peftkit kernels are installed`, async () => {
    const { tf } = await createTensorRuntime({ backend });
    assert.ok(isPeftkitKernel(tf.getKernel('UnsortedSegmentSum', backend)));
    if (backend === 'wasm') {
      assert.ok(isPeftkitKernel(tf.getKernel('BatchMatMul', 'wasm')));
      assert.ok(isPeftkitKernel(tf.getKernel('_FusedMatMul', 'wasm')));
    }
  });

  test(`${backend}: BatchMatMul matches the reference for every transpose combination and broadcast`, async () => {
    const { tf } = await createTensorRuntime({ backend });
    for (const family of FAMILIES) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const aShape = stored(family.a, tA);
          const bShape = stored(family.b, tB);
          const a = ints(aShape);
          const b = ints(bShape);
          const want = refMatMul(a, aShape, b, bShape, tA, tB);
          const label = `${family.name} tA=${tA} tB=${tB}`;
          const got = tf.tidy(() => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), tA, tB));
          assert.deepEqual(got.shape, want.shape, label);
          assert.deepEqual(got.dataSync(), want.values, label);
          got.dispose();
          const before = withOriginalKernels(tf, backend, () =>
            tf.tidy(() => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), tA, tB).dataSync()),
          );
          assert.deepEqual(before, want.values, `original kernel, ${label}`);
        }
      }
    }
  });

  test(`${backend}: BatchMatMul on random floats and larger sizes stays within float32 roundoff`, async () => {
    const { tf } = await createTensorRuntime({ backend });
    const aShape = [4, 33, 65];
    const bShape = [4, 17, 65];
    const a = Float32Array.from({ length: size(aShape) }, () => random() * 2 - 1);
    const b = Float32Array.from({ length: size(bShape) }, () => random() * 2 - 1);
    const want = refMatMul(a, aShape, b, bShape, false, true);
    const got = tf.tidy(() => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), false, true).dataSync());
    for (let i = 0; i < got.length; i++)
      assert.ok(Math.abs((got[i] as number) - (want.values[i] as number)) < 1e-4, `element ${i}`);
  });

  test(`${backend}: fused matMul (bias, activations) matches the reference`, async () => {
    const { tf } = await createTensorRuntime({ backend });
    const activations = ['linear', 'relu', 'relu6', 'elu', 'leakyrelu'] as const;
    const apply: Record<(typeof activations)[number], (v: number) => number> = {
      linear: (v) => v,
      relu: (v) => Math.max(v, 0),
      relu6: (v) => Math.min(Math.max(v, 0), 6),
      elu: (v) => (v >= 0 ? v : Math.fround(Math.expm1(v))),
      leakyrelu: (v) => (v >= 0 ? v : Math.fround(0.2 * v)),
    };
    for (const family of FAMILIES.slice(0, 3)) {
      for (const [tA, tB] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        for (const activation of activations) {
          for (const biasShape of [
            null,
            [family.b[family.b.length - 1] as number],
            [1, family.b[family.b.length - 1] as number],
          ]) {
            const aShape = stored(family.a, tA);
            const bShape = stored(family.b, tB);
            const a = ints(aShape);
            const b = ints(bShape);
            const bias = biasShape === null ? null : ints(biasShape);
            const want = refMatMul(a, aShape, b, bShape, tA, tB);
            const n = want.shape[want.shape.length - 1] as number;
            const expected = want.values.map((v, i) =>
              apply[activation](v + (bias === null ? 0 : (bias[i % n] as number))),
            );
            const got = tf.tidy(() =>
              tf.fused
                .matMul({
                  a: tf.tensor(a, aShape),
                  b: tf.tensor(b, bShape),
                  transposeA: tA,
                  transposeB: tB,
                  ...(bias === null || biasShape === null ? {} : { bias: tf.tensor(bias, biasShape) }),
                  activation,
                })
                .dataSync(),
            );
            const label = `${family.name} tA=${tA} tB=${tB} ${activation} bias=${JSON.stringify(biasShape)}`;
            // elu goes through exp: compare with a tolerance; the rest is exact.
            for (let i = 0; i < got.length; i++) {
              assert.ok(
                Math.abs((got[i] as number) - (expected[i] as number)) <= 1e-6,
                `${label} element ${i}: ${got[i]} vs ${expected[i]}`,
              );
            }
          }
        }
      }
    }
  });

  test(`${backend}: one buffer used as the right operand under two shapes (reshape shares it)`, async () => {
    // tfjs-backend-wasm 4.22 caches XNNPACK weights by buffer id only and aborts on the second product.
    const { tf } = await createTensorRuntime({ backend });
    const w = ints([4, 6]);
    const check = (
      label: string,
      got: Float32Array | Int32Array | Uint8Array,
      aShape: number[],
      a: Float32Array,
      bShape: number[],
    ) => assert.deepEqual(got, refMatMul(a, aShape, w, bShape, false, false).values, label);
    const wt = tf.tensor(w, [4, 6]);
    const x = ints([3, 4]);
    const y = ints([2, 5, 6]);
    const z = ints([3, 2]);
    tf.tidy(() => {
      check('[3,4]·W[4,6]', tf.matMul(tf.tensor(x, [3, 4]), wt).dataSync(), [3, 4], x, [4, 6]);
      check(
        '[2,5,6]·W[6,4]',
        tf.matMul(tf.tensor(y, [2, 5, 6]), tf.reshape(wt, [6, 4])).dataSync(),
        [2, 5, 6],
        y,
        [6, 4],
      );
      const fused = tf.fused.matMul({
        a: tf.tensor(z, [3, 2]),
        b: tf.reshape(wt, [2, 12]),
        bias: tf.zeros([12]),
        activation: 'linear',
      });
      check('fused [3,2]·W[2,12]', fused.dataSync(), [3, 2], z, [2, 12]);
      check('[3,4]·W[4,6] again', tf.matMul(tf.tensor(x, [3, 4]), wt).dataSync(), [3, 4], x, [4, 6]);
    });
    wt.dispose();
  });

  test(`${backend}: UnsortedSegmentSum matches the reference (repeated and out-of-range ids)`, async () => {
    const { tf } = await createTensorRuntime({ backend });
    const numSegments = 6;
    const ids = Int32Array.from([0, 3, 3, -1, 5, 6, 100, 0, 2, 3]);
    const inner = [2, 3];
    for (const dtype of ['float32', 'int32'] as const) {
      const x = ints([ids.length, ...inner]);
      const want = new Float32Array(numSegments * size(inner));
      ids.forEach((id, r) => {
        if (id < 0 || id >= numSegments) return;
        for (let j = 0; j < size(inner); j++)
          want[id * size(inner) + j] = (want[id * size(inner) + j] as number) + (x[r * size(inner) + j] as number);
      });
      const got = tf.tidy(() =>
        tf.unsortedSegmentSum(tf.tensor(x, [ids.length, ...inner], dtype), tf.tensor1d(ids, 'int32'), numSegments),
      );
      assert.equal(got.dtype, dtype);
      assert.deepEqual(got.shape, [numSegments, ...inner]);
      assert.deepEqual(Array.from(got.dataSync()), Array.from(want));
      got.dispose();
    }
  });

  test(`${backend}: embedding gradient at vocab 8192 x dim 64 is exact and completes`, async () => {
    const { tf } = await createTensorRuntime({ backend });
    const vocab = 8192;
    const dim = 64;
    const ids = Int32Array.from({ length: 512 }, () => Math.floor(random() * vocab));
    const table = tf.zeros([vocab, dim]);
    const grad = tf.tidy(() =>
      tf.grad((w: ReturnType<typeof tf.zeros>) => tf.sum(tf.gather(w, tf.tensor1d(ids, 'int32'))))(table),
    );
    // d/dw sum(gather(w, ids)) puts, in every column, the number of times each row was picked.
    const counts = new Float32Array(vocab);
    for (const id of ids) counts[id] = (counts[id] as number) + 1;
    const values = grad.dataSync();
    assert.deepEqual(grad.shape, [vocab, dim]);
    for (let row = 0; row < vocab; row += 1) assert.equal(values[row * dim + 7], counts[row]);
    grad.dispose();
    table.dispose();
  });

  test(`${backend}: kernels leak neither tensors nor backend buffers`, async () => {
    const { tf } = await createTensorRuntime({ backend });
    const run = () => {
      for (const family of FAMILIES) {
        tf.tidy(() => {
          for (const [tA, tB] of [
            [false, false],
            [true, true],
          ] as const) {
            const a = tf.ones(stored(family.a, tA));
            const b = tf.ones(stored(family.b, tB));
            tf.matMul(a, b, tA, tB).dataSync();
            const n = family.b[family.b.length - 1] as number;
            // tf.fused.matMul flattens outer dims before broadcasting, so it rejects rank-4 x rank-3.
            if (family.a.length > 3) continue;
            tf.fused
              .matMul({ a, b, transposeA: tA, transposeB: tB, bias: tf.ones([n]), activation: 'relu' })
              .dataSync();
            tf.fused
              .matMul({ a, b, transposeA: tA, transposeB: tB, bias: tf.ones([1, n]), activation: 'elu' })
              .dataSync();
          }
          tf.unsortedSegmentSum(tf.ones([4, 3]), tf.tensor1d([0, 2, 2, 9], 'int32'), 3).dataSync();
        });
      }
    };
    run(); // first run may allocate lasting state (backend init, kernel setup)
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    run();
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(tf.engine().backend.numDataIds(), buffers);
  });
}

test('wasm and cpu agree on a gradient through transposed and batched products', async () => {
  const shapes = { x: [2, 6, 5], w: [5, 4], v: [2, 4, 3] };
  const x = ints(shapes.x);
  const w = ints(shapes.w);
  const v = ints(shapes.v);
  const results: Float32Array[][] = [];
  for (const backend of BACKENDS) {
    const { tf } = await createTensorRuntime({ backend });
    const grads = tf.tidy(() => {
      const f = (
        xs: ReturnType<typeof tf.tensor>,
        ws: ReturnType<typeof tf.tensor>,
        vs: ReturnType<typeof tf.tensor>,
      ) => tf.sum(tf.matMul(tf.matMul(xs, ws), vs));
      return tf
        .grads(f)([tf.tensor(x, shapes.x), tf.tensor(w, shapes.w), tf.tensor(v, shapes.v)])
        .map((g) => g.dataSync() as Float32Array);
    });
    results.push(grads);
  }
  assert.deepEqual(results[1], results[0]);
});

test(
  'wasm Identity (tf.clone) shares the buffer; originals, ' + 'clones and assigned variables stay independent in value',
  async () => {
    const { tf } = await createTensorRuntime({ backend: 'wasm' });
    assert.ok(isPeftkitKernel(tf.getKernel('Identity', 'wasm')), 'peftkit Identity installed on wasm');
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const buffers = tf.memory().numDataBuffers;
    const y = tf.clone(x);
    assert.equal(tf.memory().numDataBuffers, buffers, 'no new buffer for a clone');
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4, 5, 6], 'the clone outlives its original');
    const v = tf.variable(tf.tensor1d([7, 8, 9]));
    const snapshot = tf.clone(v);
    v.assign(tf.tensor1d([0, 0, 0]));
    assert.deepEqual(
      Array.from(snapshot.dataSync()),
      [7, 8, 9],
      'assigning the variable does not change an earlier clone',
    );
    const s = tf.clone(tf.tensor1d(['a', 'b'], 'string'));
    assert.deepEqual(s.dataSync(), ['a', 'b'], 'string tensors still clone through the original kernel');
    for (const t of [y, v, snapshot, s]) t.dispose();
  },
);
