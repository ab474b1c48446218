import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';

// peftkit's wasm Slice / SplitV read the input through a heap view (adapters/tensor/kernels/wasm-slice.ts): every
// layout — contiguous, strided, short and long runs, int32, empty — must match the cpu backend exactly.

type Run = (tf: Awaited<ReturnType<typeof createKernel>>['tf']) => unknown[];

test('wasm Slice and SplitV equal the cpu backend', async () => {
  const rng = new Rng(3);
  const shape = [3, 5, 4, 40];
  const values = Array.from({ length: 3 * 5 * 4 * 40 }, () => rng.normal());
  const cases: [number[], number[]][] = [
    [
      [0, 0, 0, 0],
      [-1, -1, -1, -1],
    ],
    [
      [1, 0, 0, 0],
      [2, -1, -1, -1],
    ],
    [
      [0, 2, 0, 0],
      [3, 2, -1, -1],
    ],
    [
      [1, 1, 1, 3],
      [2, 3, 2, 30],
    ],
    [
      [0, 0, 0, 20],
      [3, 5, 4, 20],
    ],
    [
      [2, 4, 3, 39],
      [1, 1, 1, 1],
    ],
    [
      [0, 0, 0, 0],
      [3, 0, 4, 40],
    ],
  ];
  const splits: [number[] | number, number][] = [
    [[1, 2, 2], 1],
    [[24, 16], 3],
    [2, 2],
    [[3], 0],
  ];
  // one kernel's backend is global: run everything on cpu first, then on wasm
  const run: Run = (tf) =>
    (['float32', 'int32'] as const).flatMap((dtype) => {
      const x = tf.tensor(dtype === 'int32' ? values.map((v) => Math.round(100 * v)) : values, shape, dtype);
      return [
        ...cases.map(([begin, size]) => tf.slice(x, begin, size).arraySync()),
        ...splits.map(([n, axis]) => tf.split(x, n, axis).map((t) => t.arraySync())),
      ];
    });
  const cpu = (await createKernel({ backend: 'cpu', logger: { warn() {}, info() {} } })).tf;
  const expected = run(cpu);
  const wasm = (await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } })).tf;
  assert.equal(wasm.getBackend(), 'wasm');
  assert.equal(
    wasm.getKernel('Slice', 'wasm') !== undefined && (wasm.getKernel('Slice', 'wasm') as { peftkit?: boolean }).peftkit,
    true,
  );
  assert.deepEqual(run(wasm), expected);
});
