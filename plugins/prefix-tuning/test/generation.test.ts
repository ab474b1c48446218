import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestKernel as createKernel } from '@peftkit/testing';
import type { LlamaModel } from '@peftkit/models';
import { perturb } from '@peftkit/testing';
import prefixTuning from '@peftkit/prefix-tuning';
import { generate } from '@peftkit/models';
import { loadStories260K } from '../../../test/support/learning.ts';

// Generation on the real stories260K (8 query heads, 4 key/value heads): prefixes enter the KV cache on the first
// step, so cached decoding must equal recomputing the whole sequence every step, per row in a mixed batch too.

test(
  'stories260K: prefixes sized by KV heads; cached generation = uncached; mixed batch rows = one-row runs; ' +
    'no tensor growth',
  async (t) => {
    const kernel = await createKernel({ logger: { warn() {}, info() {} } });
    kernel.use(prefixTuning);
    const tf = kernel.tf;
    const loaded = await loadStories260K(t, tf);
    if (!loaded) return;
    const model = loaded.model as LlamaModel;
    const tokenizer = loaded.tokenizer;
    assert.ok(tokenizer, 'stories260K comes with its tokenizer');
    const manager = kernel.adapters(model);
    const a = manager.create('a', 'prefix-tuning', { num_virtual_tokens: 4 }, { seed: 1 }).handle;
    const { dims } = model;
    assert.equal(dims.numKvHeads * 2, dims.numHeads, 'grouped-query model');
    assert.equal(
      a.trainableVariables.reduce((n, v) => n + v.size, 0),
      4 * dims.numLayers * 2 * dims.numKvHeads * dims.headDim,
      'T × L × 2 × (kv_heads · head_dim) = 4 × 5 × 2 × 32',
    );
    perturb(
      tf,
      manager.create('b', 'prefix-tuning', { num_virtual_tokens: 3, prefix_projection: true }, { seed: 2 }).handle
        .trainableVariables,
      3,
      0.3,
    );
    const requests = [
      { prompt: 'Once upon a time', adapter: 'a' },
      { prompt: 'The dog', adapter: null },
      { prompt: 'Once upon a time', adapter: 'b' },
      { prompt: 'Once upon a time', adapter: null },
    ];
    const options = { maxTokens: 10, temperature: 0, stopAtEos: false };
    generate(model, tokenizer, requests, options);
    const before = tf.memory().numTensors;
    const cached = generate(model, tokenizer, requests, options);
    assert.equal(tf.memory().numTensors, before, 'cached generation frees everything');
    const uncached = generate(model, tokenizer, requests, { ...options, useCache: false });
    assert.equal(tf.memory().numTensors, before, 'uncached generation frees everything');
    cached.forEach((row, i) => {
      assert.deepEqual(row.ids, uncached[i]?.ids, `row ${i}: cached ids = recomputed ids`);
      for (const [j, lp] of row.logprobs.entries()) {
        assert.ok(Math.abs(lp - (uncached[i]?.logprobs[j] as number)) < 1e-3, `row ${i} token ${j}: logprob ${lp}`);
      }
    });
    requests.forEach((request, i) => {
      const alone = generate(model, tokenizer, [request], options)[0];
      assert.deepEqual(alone?.ids, cached[i]?.ids, `row ${i} in the mixed batch = the same request alone`);
    });
    assert.notDeepEqual(cached[0]?.logprobs, cached[3]?.logprobs, 'adapter a changes generation');
    assert.notDeepEqual(cached[2]?.logprobs, cached[3]?.logprobs, 'adapter b changes generation');
    manager.dispose();
    await loaded.cleanup();
  },
);
