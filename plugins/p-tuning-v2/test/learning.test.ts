import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestKernel as createKernel } from '@peftkit/testing';
import type { LlamaModel } from '@peftkit/models';
import pTuningV2 from '@peftkit/p-tuning-v2';
import prefixTuning from '@peftkit/prefix-tuning';
import { loadStories260K } from '../../../test/support/learning.ts';
import { trainSpamClassifier } from '../../prefix-tuning/test/learning-data.ts';

// P-Tuning v2 for NLU: SpamAssassin ham/spam (real e-mails) with stories260K as a sequence classifier — deep
// prompts in all 5 layers (reparameterized, prefix dropout 0.1) plus the trained score head. Held-out accuracy must
// beat the 50 % majority class.

test('P-Tuning v2 on SpamAssassin (stories260K seq-cls): held-out accuracy beats the majority class', async (t) => {
  const kernel = await createKernel({ logger: { warn() {}, info() {} } });
  kernel.use(prefixTuning);
  kernel.use(pTuningV2);
  const tf = kernel.tf;
  const loaded = await loadStories260K(t, tf, { task: 'seq-cls', labels: ['ham', 'spam'] });
  if (!loaded?.tokenizer) return;
  const model = loaded.model as LlamaModel;
  const manager = kernel.adapters(model);
  const handle = manager.create(
    'spam',
    'p-tuning-v2',
    { num_virtual_tokens: 4, prefix_projection: true, prefix_dropout: 0.1 },
    { seed: 1 },
  ).handle;
  const before = tf.memory().numTensors;
  const run = trainSpamClassifier({
    tf,
    model,
    tokenizer: loaded.tokenizer,
    variables: handle.trainableVariables,
    adapter: 'spam',
    steps: 40,
    lr: 0.003,
  });
  assert.equal(tf.memory().numTensors, before, 'training leaves numTensors flat');
  const first = run.losses.slice(0, 5).reduce((a, b) => a + b, 0) / 5;
  const last = run.losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
  console.log(
    `[p-tuning-v2] SpamAssassin held-out accuracy ${(100 * run.accuracy).toFixed(1)} % of ${run.held}; ` +
      `train loss (mean of 5) ${first.toFixed(3)} → ${last.toFixed(3)}`,
  );
  assert.ok(run.accuracy >= 0.65, `held-out accuracy ${run.accuracy} beats the 50 % majority class by ≥ 15 points`);
  manager.dispose();
  await loaded.cleanup();
});
