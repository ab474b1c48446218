import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestKernel as createKernel } from '@peftkit/testing';
import type { LlamaModel } from '@peftkit/models';
import prefixTuning from '@peftkit/prefix-tuning';
import { loadStories260K } from '../../../test/support/learning.ts';
import { trainSpamClassifier } from './learning-data.ts';

// Does prefix tuning learn a classifier? SpamAssassin ham/spam (real e-mails) with stories260K as a sequence
// classifier (prefix + trained score head, as PEFT's SEQ_CLS): held-out accuracy must beat the 50 % majority class.

test(
  'stories260K seq-cls on SpamAssassin: prefix + score head beat the majority class on held-out ' + 'e-mails',
  async (t) => {
    const kernel = await createKernel({ logger: { warn() {}, info() {} } });
    kernel.use(prefixTuning);
    const tf = kernel.tf;
    const loaded = await loadStories260K(t, tf, { task: 'seq-cls', labels: ['ham', 'spam'] });
    if (!loaded?.tokenizer) return;
    const model = loaded.model as LlamaModel;
    const manager = kernel.adapters(model);
    const handle = manager.create(
      'spam',
      'prefix-tuning',
      { num_virtual_tokens: 4, prefix_projection: true },
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
      `[prefix-tuning] SpamAssassin held-out accuracy ${(100 * run.accuracy).toFixed(1)} % of ${run.held}; ` +
        `train loss (mean of 5) ${first.toFixed(3)} → ${last.toFixed(3)}`,
    );
    assert.ok(run.accuracy >= 0.65, `held-out accuracy ${run.accuracy} beats the 50 % majority class by ≥ 15 points`);
    manager.dispose();
    await loaded.cleanup();
  },
);
