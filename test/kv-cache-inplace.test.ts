import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { KV_WRITE_KERNEL, KvCache } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { generate } from '../packages/models/src/generate/generate.ts';
import { withStories260K } from './support/generation.ts';

// The KV cache writes each step's keys and values into its buffers in place (core/src/model/kv-cache.ts,
// adapters/tensor/kernels/kv-write.ts) instead of concatenating the whole cache per layer per token.

type Tfx = Awaited<ReturnType<typeof createKernel>>['tf'];

/** Runs `fn` with the in-place kernel unregistered: caches made meanwhile concatenate, as before. */
function concatenating<T>(tf: Tfx, fn: () => T): T {
  const backend = tf.getBackend();
  const config = tf.getKernel(KV_WRITE_KERNEL, backend);
  assert.ok(config !== undefined, `${KV_WRITE_KERNEL} is registered on ${backend}`);
  tf.unregisterKernel(KV_WRITE_KERNEL, backend);
  try {
    return fn();
  } finally {
    tf.registerKernel(config);
  }
}

for (const backend of ['wasm', 'cpu']) {
  test(`${backend}: generation through the in-place KV cache equals the concatenating one`, (t) =>
    withStories260K(t, backend, ({ tf, model, tokenizer }) => {
      const prompts = [{ prompt: 'Once upon a time' }, { prompt: 'Tom' }];
      // 100 new tokens: the buffers grow from 64 to 128 columns mid-generation.
      const options = { maxTokens: 100, temperature: 0, stopAtEos: false };
      const before = tf.memory();
      const inPlace = generate(model, tokenizer, prompts, options);
      const after = tf.memory();
      assert.equal(after.numTensors, before.numTensors, 'no tensors left behind');
      assert.equal(after.numBytes, before.numBytes, 'no bytes left behind (the shared buffers are freed)');
      const concat = concatenating(tf, () => generate(model, tokenizer, prompts, options));
      for (const [i, row] of inPlace.entries()) {
        assert.deepEqual(row.ids, concat[i]?.ids, `row ${i}: same greedy tokens`);
        for (const [k, lp] of row.logprobs.entries()) {
          const want = concat[i]?.logprobs[k] as number;
          assert.ok(Math.abs(lp - want) < 1e-4, `row ${i} token ${k}: logprob ${lp} vs ${want}`);
        }
      }
    }));

  test(`${backend}: the in-place write fills only its columns and refuses what does not fit`, async () => {
    const tf = (await createKernel({ backend, logger: { warn() {}, info() {} } })).tf;
    const buffer = tf.zeros([2, 3, 8, 4]) as Tensor4D;
    const update = tf.add(tf.zeros([2, 3, 2, 4]), 7) as Tensor4D;
    const run = (offset: number) => tf.engine().runKernel(KV_WRITE_KERNEL, { buffer, update }, { offset }) as Tensor4D;
    const out = run(5);
    const values = out.arraySync() as number[][][][];
    for (const head of values.flat()) {
      const filled = head.map((column) => column.every((v) => v === 7));
      const empty = head.map((column) => column.every((v) => v === 0));
      assert.deepEqual(filled, [false, false, false, false, false, true, true, false], 'columns 5 and 6 written');
      assert.deepEqual(
        empty,
        filled.map((f) => !f),
        'every other column untouched',
      );
    }
    assert.throws(() => run(7), /does not fit buffer/, 'an update past the buffer is refused');
    assert.throws(() => run(-1), /does not fit buffer/, 'a negative offset is refused');
    tf.dispose([buffer, update, out]);
  });
}

test('tensors given to setLayer are never written: a clone sharing their data keeps its values', async () => {
  const tf = (await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } })).tf;
  const cache = new KvCache(tf, 1);
  // 128 columns, 64 of them used: the next position fits without growing, the case where a write would land in place.
  const base = tf.fill([1, 2, 128, 4], 3) as Tensor4D;
  // On wasm a clone shares its source's buffer (reference-counted), so an in-place write would reach `base`.
  cache.setLayer(0, tf.clone(base), tf.clone(base));
  cache.length = 64;
  const update = tf.fill([1, 2, 1, 4], 9) as Tensor4D;
  const { key } = tf.tidy(() => cache.append(0, update, update));
  assert.equal(key.shape[2], 128, 'the same 128 columns');
  const keys = key.arraySync()[0]?.[0] ?? [];
  assert.deepEqual([keys[63]?.[0], keys[64]?.[0], keys[65]?.[0]], [3, 9, 3], 'old, new, then the given columns');
  assert.ok(
    (base.dataSync() as Float32Array).every((v) => v === 3),
    'the given data is untouched',
  );
  cache.dispose();
  tf.dispose([base, update]);
});
