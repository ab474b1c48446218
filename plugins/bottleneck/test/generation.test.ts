import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { perturb } from '@peftkit/testing';
import bottleneck from '@peftkit/bottleneck';
import { type GenerationResult, generate } from '@peftkit/models';
import { loadStories260K } from '../../../test/support/learning.ts';

// Causal-LM generation on the real stories260K model with bottleneck adapters: the KV-cache path must equal
// recomputing the whole sequence each step, and a batch with one adapter per row must equal one-row runs.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(bottleneck);
const tf = kernel.tf;

test(
  'stories260K: cached generation equals uncached recomputation; ' + 'batched per-row adapters equal single rows',
  async (t) => {
    const loaded = await loadStories260K(t, tf);
    if (!loaded) return;
    const { model, tokenizer } = loaded;
    assert.ok(tokenizer && model.forward && 'createCache' in model, 'a causal LM with a tokenizer');
    const lm = model as unknown as Parameters<typeof generate>[0];
    const manager = kernel.adapters(model);
    perturb(
      tf,
      manager.create('houlsby', 'bottleneck', { preset: 'houlsby', reduction_factor: 8 }, { seed: 1 }).handle
        .trainableVariables,
      1,
      0.3,
    );
    perturb(
      tf,
      manager.create('pfeiffer', 'bottleneck', { preset: 'pfeiffer', reduction_factor: 4 }, { seed: 2 }).handle
        .trainableVariables,
      2,
      0.3,
    );
    const requests = [
      { prompt: 'Once upon a time', adapter: 'houlsby' },
      { prompt: 'Lily saw a big dog', adapter: null },
      { prompt: 'The sun', adapter: 'pfeiffer' },
    ];
    const options = { maxTokens: 12, temperature: 0, stopAtEos: false };
    const before = tf.memory().numTensors;
    const cached = generate(lm, tokenizer, requests, { ...options, useCache: true });
    const uncached = generate(lm, tokenizer, requests, { ...options, useCache: false });
    assert.equal(tf.memory().numTensors, before, 'numTensors flat across generation');
    for (const [i, row] of cached.entries()) {
      assert.deepEqual(row.ids, uncached[i]?.ids, `row ${i}: cached ids equal uncached`);
      const request = requests[i] as (typeof requests)[number];
      const single: GenerationResult | undefined = generate(lm, tokenizer, [request], {
        ...options,
        useCache: true,
      })[0];
      assert.deepEqual(row.ids, single?.ids, `row ${i}: batched equals a one-row run`);
      for (const [k, lp] of row.logprobs.entries())
        assert.ok(
          Math.abs(lp - (uncached[i]?.logprobs[k] as number)) < 1e-3,
          `row ${i} step ${k}: logprob cached ≈ uncached`,
        );
    }
    const base = generate(lm, tokenizer, [{ prompt: 'Once upon a time' }], options)[0];
    assert.notDeepEqual(base?.ids, cached[0]?.ids, 'the perturbed adapter changes the continuation');
    manager.dispose();
    await loaded.cleanup();
  },
);
