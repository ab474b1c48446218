import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKernel } from 'peftkit';

// tfjs-backend-wasm 4.22 gathers with batchDims > 0 from memory outside its inputs (adapters/tensor/kernels/
// wasm-gather.ts): with garbage left in freed heap memory it returned wrong values or trapped out of bounds. Its
// gathers without batchDims were exact but slow (~40 ns per element); peftkit's kernel now takes those too.

/** out[b, o, i, s] = x[b, o, ids[b, i], s] in plain loops: what a batched gather means. */
function reference(x: number[], shape: [number, number, number, number], ids: number[][]): number[] {
  const [batch, outer, dim, slice] = shape;
  const out: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let o = 0; o < outer; o++)
      for (const id of ids[b] as number[])
        for (let s = 0; s < slice; s++) out.push(x[((b * outer + o) * dim + id) * slice + s] as number);
  return out;
}

test('gather with batchDims on wasm is exact whatever earlier tensors left in the heap', async () => {
  const tf = (await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } })).tf;
  assert.equal(tf.getBackend(), 'wasm', 'runs on the wasm backend');
  const x = Array.from({ length: 2 * 3 * 5 * 4 }, (_, i) => i * 0.5 - 7);
  const ids = [
    [4, 0, 2],
    [1, 1, 3],
  ];
  for (let round = 0; round < 40; round++) {
    // Freed memory full of large values: the original kernel read them as indices.
    tf.dispose(Array.from({ length: 1 + (round % 7) }, (_, i) => tf.fill([3 + ((round * 5 + i) % 61)], 123456789.5)));
    const before = tf.memory().numTensors;
    const [xs, is] = [tf.tensor(x, [2, 3, 5, 4]), tf.tensor2d(ids, [2, 3], 'int32')];
    const onAxis2 = tf.gather(xs, is, 2, 1);
    assert.deepEqual(onAxis2.shape, [2, 3, 3, 4], 'batch, outer, indices, slice');
    assert.deepEqual(Array.from(onAxis2.dataSync()), reference(x, [2, 3, 5, 4], ids), `round ${round}: axis 2`);
    const flat = tf.reshape(xs, [2, 15, 4]);
    const [near, bad] = [
      tf.tensor2d(
        [
          [14, 0],
          [7, 7],
        ],
        [2, 2],
        'int32',
      ),
      tf.tensor2d([[5], [0]], [2, 1], 'int32'),
    ];
    const onAxis1 = tf.gather(flat, near, 1, 1);
    const want = reference(
      x,
      [2, 1, 15, 4],
      [
        [14, 0],
        [7, 7],
      ],
    );
    assert.deepEqual(Array.from(onAxis1.dataSync()), want, `round ${round}: axis 1, the axis right after the batch`);
    assert.throws(() => tf.gather(xs, bad, 2, 1), /index value 5 is not in/, 'an index past the axis is refused');
    tf.dispose([xs, is, onAxis2, flat, near, bad, onAxis1]);
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
  }
});

test('gather without batchDims on wasm equals plain loops: axes, dtypes, index shapes, slice lengths', async () => {
  const tf = (await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } })).tf;
  assert.equal(tf.getBackend(), 'wasm', 'runs on the wasm backend');
  const shapes: [number, number, number, number][] = [
    [1, 1, 40, 288], // an embedding table: long slices
    [1, 3, 7, 5], // short slices, an outer dimension
    [1, 6, 9, 1], // one element per slice
  ];
  for (const [, outer, dim, slice] of shapes) {
    const size = outer * dim * slice;
    const values = Array.from({ length: size }, (_, i) => ((i * 37) % 101) - 50);
    const ids = [dim - 1, 0, Math.floor(dim / 2), 0, dim - 1, 1];
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const x = tf.tensor(dtype === 'bool' ? values.map((v) => (v > 0 ? 1 : 0)) : values, [outer, dim, slice], dtype);
      const want = reference(
        dtype === 'bool' ? values.map((v) => (v > 0 ? 1 : 0)) : values,
        [1, outer, dim, slice],
        [ids],
      );
      const before = tf.memory().numTensors;
      for (const [label, indices, axis] of [
        ['1-D indices', tf.tensor1d(ids, 'int32'), 1],
        ['2-D indices, negative axis', tf.tensor2d(ids, [2, 3], 'int32'), -2],
      ] as const) {
        const got = tf.gather(x, indices, axis);
        const shape = label === '1-D indices' ? [outer, ids.length, slice] : [outer, 2, 3, slice];
        assert.deepEqual(got.shape, shape, `[${outer}, ${dim}, ${slice}] ${dtype} ${label}: shape`);
        assert.equal(got.dtype, dtype, `${dtype} ${label}: dtype kept`);
        assert.deepEqual(Array.from(got.dataSync()), want, `[${outer}, ${dim}, ${slice}] ${dtype} ${label}: values`);
        tf.dispose([got, indices]);
      }
      const empty = tf.tensor1d([], 'int32');
      const none = tf.gather(x, empty, 1);
      assert.deepEqual(none.shape, [outer, 0, slice], `${dtype}: no indices, an empty result`);
      tf.dispose([none, empty]);
      // tidy: the index tensors made from the arrays are freed when the gather throws
      const past = () => tf.tidy(() => tf.gather(x, [dim], 1));
      assert.throws(past, new RegExp(`index value ${dim} is not in`), `${dtype}: past the axis`);
      assert.throws(
        () => tf.tidy(() => tf.gather(x, [-1], 1)),
        /index value -1 is not in/,
        `${dtype}: a negative index`,
      );
      assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
      x.dispose();
    }
  }
});
