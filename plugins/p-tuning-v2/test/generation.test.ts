import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestKernel as createKernel } from '@peftkit/testing';
import type { LlamaModel } from '@peftkit/models';
import pTuningV2 from '@peftkit/p-tuning-v2';
import prefixTuning from '@peftkit/prefix-tuning';
import { generate } from '@peftkit/models';
import { loadStories260K } from '../../../test/support/learning.ts';

// Causal-LM generation with P-Tuning v2 deep prompts on stories260K: cached decoding equals recomputation, a mixed
// batch (two P-Tuning v2 adapters and the base) equals one-row runs, prefix dropout stays off at inference.

test(
  'stories260K: P-Tuning v2 cached generation = uncached; mixed batch rows = one-row runs; ' + 'no tensor growth',
  async (t) => {
    const kernel = await createKernel({ logger: { warn() {}, info() {} } });
    kernel.use(prefixTuning);
    kernel.use(pTuningV2);
    const tf = kernel.tf;
    const loaded = await loadStories260K(t, tf);
    if (!loaded?.tokenizer) return;
    const model = loaded.model as LlamaModel;
    const tokenizer = loaded.tokenizer;
    const manager = kernel.adapters(model);
    manager.create('a', 'p-tuning-v2', { num_virtual_tokens: 5, prefix_dropout: 0.5 }, { seed: 1 });
    manager.create('b', 'p-tuning-v2', { num_virtual_tokens: 2, prefix_projection: true }, { seed: 2 });
    const requests = [
      { prompt: 'Tom had a ball', adapter: 'a' },
      { prompt: 'Tom had a ball', adapter: 'b' },
      { prompt: 'Once upon a time there', adapter: null },
      { prompt: 'Tom had a ball', adapter: null },
    ];
    const options = { maxTokens: 8, temperature: 0, stopAtEos: false };
    generate(model, tokenizer, requests, options);
    const before = tf.memory().numTensors;
    const cached = generate(model, tokenizer, requests, options);
    const uncached = generate(model, tokenizer, requests, { ...options, useCache: false });
    assert.equal(tf.memory().numTensors, before, 'generation frees everything');
    for (const [i, row] of cached.entries())
      assert.deepEqual(row.ids, uncached[i]?.ids, `row ${i}: cached ids = recomputed ids`);
    requests.forEach((request, i) => {
      assert.deepEqual(
        generate(model, tokenizer, [request], options)[0]?.ids,
        cached[i]?.ids,
        `row ${i} in the batch = alone`,
      );
    });
    assert.notDeepEqual(cached[0]?.logprobs, cached[3]?.logprobs, 'adapter a changes generation');
    assert.notDeepEqual(cached[1]?.logprobs, cached[3]?.logprobs, 'adapter b changes generation');
    manager.dispose();
    await loaded.cleanup();
  },
);
