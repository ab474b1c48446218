import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MethodPlugin } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, perturb } from '@peftkit/testing';
import { generate } from '@peftkit/models';

/** A toy tokenizer over the tiny model's 64 ids (prompts are given as ids; decode only has to be deterministic). */
const tokenizer = {
  vocabSize: 64,
  encode: (text: string) => [...text].map((c) => c.charCodeAt(0) % 64),
  decode: (ids: readonly number[]) => ids.map((id) => String.fromCharCode(48 + id)).join(''),
};

/**
 * Registers generation checks for a prompt-learning plugin: KV-cached decoding equals recomputing the whole sequence,
 * a batch with a different adapter (or none) per row equals one-row runs, and tensors do not accumulate.
 */
export function generationSuite(
  // biome-ignore lint/suspicious/noExplicitAny: any plugin's config and handle types
  plugin: MethodPlugin<any, any>,
  // biome-ignore lint/suspicious/noExplicitAny: see above
  dependencies: readonly MethodPlugin<any, any>[],
  configs: readonly [Record<string, unknown>, Record<string, unknown>],
): void {
  test(
    `${plugin.meta.name}: cached generation equals uncached; mixed batches equal one-row runs; ` + `no tensor growth`,
    async () => {
      const kernel = await createKernel({ logger: { warn() {}, info() {} } });
      for (const dep of dependencies) kernel.use(dep);
      kernel.use(plugin);
      const tf = kernel.tf;
      const model = createTinyLlama(tf, { seed: 21 });
      const manager = kernel.adapters(model);
      perturb(tf, manager.create('a', plugin.meta.name, configs[0], { seed: 1 }).handle.trainableVariables, 3, 0.5);
      perturb(tf, manager.create('b', plugin.meta.name, configs[1], { seed: 2 }).handle.trainableVariables, 4, 0.5);
      const requests = [
        { ids: [3, 9, 27, 14, 5], adapter: 'a' },
        { ids: [8, 2, 40], adapter: null },
        { ids: [3, 9, 27, 14, 5], adapter: 'b' },
        { ids: [3, 9, 27, 14, 5], adapter: null },
      ];
      const options = { maxTokens: 6, temperature: 0, stopAtEos: false };
      generate(model, tokenizer, requests, options);
      const before = tf.memory().numTensors;
      const cached = generate(model, tokenizer, requests, options);
      assert.equal(tf.memory().numTensors, before, 'cached generation frees everything');
      const uncached = generate(model, tokenizer, requests, { ...options, useCache: false });
      assert.equal(tf.memory().numTensors, before, 'uncached generation frees everything');
      cached.forEach((row, i) => {
        assert.deepEqual(row.ids, uncached[i]?.ids, `row ${i}: cached ids = recomputed ids`);
        row.logprobs.forEach((lp, j) => {
          assert.ok(Math.abs(lp - (uncached[i]?.logprobs[j] as number)) < 1e-4, `row ${i} token ${j}: logprob ${lp}`);
        });
      });
      requests.forEach((request, i) => {
        const alone = generate(model, tokenizer, [request], options)[0];
        assert.deepEqual(alone?.ids, cached[i]?.ids, `row ${i} in the mixed batch = the same request alone`);
      });
      const differs = (x: readonly number[], y: readonly number[]) =>
        x.some((v, j) => Math.abs(v - (y[j] as number)) > 1e-3);
      assert.ok(
        differs(cached[0]?.logprobs ?? [], cached[3]?.logprobs ?? []),
        'adapter a changes generation vs the base',
      );
      assert.ok(
        differs(cached[2]?.logprobs ?? [], cached[3]?.logprobs ?? []),
        'adapter b changes generation vs the base',
      );
      manager.dispose();
      model.dispose();
    },
  );
}
