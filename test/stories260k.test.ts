import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type HostTensors, isPeftkitError } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { LlamaModel } from '@peftkit/models';
import { convertLlama2cFiles } from '../packages/models/src/convert/llama2c-files.ts';
import { generate, streamGenerate } from '../packages/models/src/generate/generate.ts';
import { decodeTensor, readModelWeights } from '../packages/io/src/safetensors.ts';
import { loadTokenizer } from '../packages/models/src/tokenizers/load.ts';
import { argmax, hfLlamaReference } from './support/llama-reference.ts';
import { stories260KFiles } from './support/shared.ts';

const EXPECTED = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';

async function converted() {
  const { model, tokenizer: tok } = stories260KFiles();
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-s260k-'));
  await convertLlama2cFiles(model, tok, dir);
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  const weights = await readModelWeights(dir);
  const tensors: HostTensors = new Map();
  for (const [name, entry] of weights.tensors) {
    const d = decodeTensor(entry);
    tensors.set(name, { shape: d.shape, values: d.values as Float32Array });
  }
  return { dir, config, tensors, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

for (const backend of ['cpu', 'wasm']) {
  test(
    `stories260K on ${backend}: tfjs logits match an independent plain-loop reference over 100 greedy positions, ` +
      `with and without KV cache`,
    async () => {
      const c = await converted();
      const kernel = await createKernel({ backend, logger: { warn() {}, info() {} } });
      const tf = kernel.tf;
      const model = new LlamaModel(tf, c.config, { kind: 'tensors', tensors: c.tensors });
      const reference = hfLlamaReference(
        c.config,
        new Map([...c.tensors].map(([n, v]) => [n, { shape: v.shape, data: v.values }])),
      );
      const positions = 100;
      const ids = [1];
      const cache = model.createCache();
      let worstCached = 0;
      for (let pos = 0; pos < positions; pos++) {
        const expected = reference.logits(ids[pos] as number, pos);
        const out = model.forward({ ids: [[ids[pos] as number]] }, { cache });
        const got = out.dataSync() as Float32Array;
        out.dispose();
        for (let i = 0; i < got.length; i++)
          worstCached = Math.max(worstCached, Math.abs((got[i] as number) - (expected[i] as number)));
        ids.push(argmax(expected));
      }
      cache.dispose();
      // Without cache: one full forward over the same 100 positions.
      const full = model.forward({ ids: [ids.slice(0, positions)] });
      const all = full.dataSync() as Float32Array;
      full.dispose();
      const vocab = c.config.vocab_size as number;
      const replay = hfLlamaReference(
        c.config,
        new Map([...c.tensors].map(([n, v]) => [n, { shape: v.shape, data: v.values }])),
      );
      let worstFull = 0;
      for (let pos = 0; pos < positions; pos++) {
        const expected = replay.logits(ids[pos] as number, pos);
        for (let i = 0; i < vocab; i++)
          worstFull = Math.max(worstFull, Math.abs((all[pos * vocab + i] as number) - (expected[i] as number)));
      }
      assert.ok(worstCached <= 1e-4, `cached max abs diff ${worstCached}`);
      assert.ok(worstFull <= 1e-4, `full max abs diff ${worstFull}`);
      model.dispose();
      await c.cleanup();
    },
  );
}

test(
  'stories260K: greedy generation from BOS tells the expected story; streaming gives the same text; ' +
    'no tensor leaks',
  async () => {
    const c = await converted();
    const kernel = await createKernel({ logger: { warn() {}, info() {} } });
    const tf = kernel.tf;
    const model = new LlamaModel(tf, c.config, { kind: 'tensors', tensors: c.tensors });
    const tokenizer = await loadTokenizer(c.dir);
    const before = tf.memory().numTensors;
    const [result] = generate(model, tokenizer, [{ prompt: '' }], { maxTokens: 200, temperature: 0, stopAtEos: false });
    assert.ok(result?.text.startsWith(EXPECTED), result?.text);
    assert.equal(result?.ids.length, 200);
    assert.equal(tf.memory().numTensors, before, 'generating 200 tokens leaks no tensors');
    let streamed = '';
    const stream = streamGenerate(model, tokenizer, { prompt: '' }, { maxTokens: 40, temperature: 0 });
    for await (const event of stream) streamed += event.text;
    assert.ok(EXPECTED.startsWith(streamed.slice(0, 20)) && streamed.length > 20, streamed);
    const [uncached] = generate(model, tokenizer, [{ prompt: '' }], { maxTokens: 40, temperature: 0, useCache: false });
    const [cached] = generate(model, tokenizer, [{ prompt: '' }], { maxTokens: 40, temperature: 0 });
    assert.deepEqual(uncached?.ids, cached?.ids, 'same tokens with and without KV cache');
    // Batched generation with left padding gives each row what it gets alone.
    const prompts = [{ prompt: 'Once upon a time' }, { prompt: 'Tom had a' }];
    const batched = generate(model, tokenizer, prompts, { maxTokens: 20, temperature: 0 });
    const alone = prompts.map((p) => generate(model, tokenizer, [p], { maxTokens: 20, temperature: 0 })[0]);
    assert.deepEqual(
      batched.map((r) => r.ids),
      alone.map((r) => r?.ids),
    );
    // Sampling is seeded.
    const s1 = generate(model, tokenizer, [{ prompt: '' }], {
      maxTokens: 30,
      temperature: 0.8,
      topK: 40,
      topP: 0.9,
      seed: 5,
    });
    const s2 = generate(model, tokenizer, [{ prompt: '' }], {
      maxTokens: 30,
      temperature: 0.8,
      topK: 40,
      topP: 0.9,
      seed: 5,
    });
    assert.deepEqual(s1[0]?.ids, s2[0]?.ids);
    const stop = generate(model, tokenizer, [{ prompt: '' }], { maxTokens: 100, temperature: 0, stop: ['Lily'] });
    assert.equal(stop[0]?.finishReason, 'stop');
    assert.ok(EXPECTED.startsWith(stop[0]?.text ?? 'x') && !stop[0]?.text.includes('Lily'));
    assert.throws(
      () => generate(model, tokenizer, [{ prompt: '' }], { maxTokens: 1000 }),
      (e) => isPeftkitError(e, 'PEFTKIT_E_CONTEXT_LENGTH'),
    );
    assert.throws(
      () => generate(model, tokenizer, [{ prompt: '' }], { topP: 0 }),
      (e) => isPeftkitError(e, 'PEFTKIT_E_GENERATE_OPTIONS'),
    );
    model.dispose();
    await c.cleanup();
  },
);
