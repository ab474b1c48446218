import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchGenerator, type CausalLanguageModel, generate } from '../packages/models/src/generate/generate.ts';
import { withStories260K } from './support/generation.ts';

/** The same model without its runtime: the generator then picks every token on the host (sampleToken). */
function hostOnly(model: CausalLanguageModel): CausalLanguageModel {
  return {
    dims: model.dims,
    prompts: model.prompts,
    prefixes: model.prefixes,
    forward: (input, options) => model.forward(input, options),
    createCache: () => model.createCache(),
  };
}

for (const backend of ['wasm', 'cpu']) {
  test(
    `greedy decoding and temperature sampling on the ${backend} backend pick the tokens and log-probabilities the ` +
      'host would, with and without the KV cache, leaking no tensors',
    (t) =>
      withStories260K(t, backend, ({ tf, model, tokenizer }) => {
        assert.equal(model.tf, tf, 'a loaded model exposes the runtime its logits live in');
        const prompts = [{ prompt: 'Once upon a time' }, { prompt: 'The cat' }, { prompt: '' }];
        const runs = [
          ...[true, false].map((useCache) => ({ maxTokens: 24, temperature: 0, stopAtEos: false, useCache })),
          // plain temperature sampling: the backend's softmax, drawn on the host with each run's seeded RNG
          { maxTokens: 24, temperature: 0.8, stopAtEos: false, useCache: true, seed: 7 },
        ];
        for (const options of runs) {
          const { useCache } = options;
          const before = tf.memory().numTensors;
          const device = generate(model, tokenizer, prompts, options);
          assert.equal(tf.memory().numTensors, before, `no tensor leaks (cache ${useCache})`);
          const host = generate(hostOnly(model), tokenizer, prompts, options);
          for (const [i, row] of device.entries()) {
            const expected = host[i];
            const label = `row ${i} (T ${options.temperature}, cache ${useCache})`;
            assert.deepEqual(row.ids, expected?.ids, `${label}: same tokens`);
            assert.equal(row.logprobs.length, 24, `row ${i}: one log-probability per token`);
            for (const [k, lp] of row.logprobs.entries()) {
              const want = expected?.logprobs[k] as number;
              assert.ok(lp <= 0 && Math.abs(lp - want) < 1e-5, `${label} token ${k}: logprob ${lp} vs host ${want}`);
            }
          }
        }
      }),
  );

  const name = `greedy decoding with logprobs: false on the ${backend} backend picks the same tokens without them`;
  test(name, (t) =>
    withStories260K(t, backend, ({ tf, model, tokenizer }) => {
      const prompts = [{ prompt: 'Once upon a time' }, { prompt: 'The cat' }];
      for (const subject of [model, hostOnly(model)]) {
        const where = subject === model ? 'backend' : 'host';
        const options = { maxTokens: 16, temperature: 0, stopAtEos: false };
        const full = generate(subject, tokenizer, prompts, options);
        const before = tf.memory().numTensors;
        const generator = new BatchGenerator(subject, tokenizer, prompts, { ...options, logprobs: false });
        const events = [];
        while (!generator.done) events.push(...generator.step());
        const bare = generator.results();
        assert.equal(tf.memory().numTensors, before, `${where}: no tensor leaks`);
        for (const [i, row] of bare.entries()) {
          assert.deepEqual(row.ids, full[i]?.ids, `${where} row ${i}: the tokens of the run with log-probabilities`);
          assert.deepEqual(row.logprobs, [], `${where} row ${i}: no log-probabilities recorded`);
        }
        assert.equal(events.length, 32, `${where}: one event per token`);
        assert.ok(
          events.every((e) => Number.isNaN(e.logprob)),
          `${where}: events carry NaN for the log-probability not computed`,
        );
      }
    }),
  );
}
