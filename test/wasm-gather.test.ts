import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKernel } from 'peftkit';

// tfjs-backend-wasm 4.22 gathers with batchDims > 0 from memory outside its inputs (adapters/tensor/kernels/
// wasm-gather.ts): with garbage left in freed heap memory it returned wrong values or trapped out of bounds.

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
