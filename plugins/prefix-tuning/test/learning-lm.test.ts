import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import type { LlamaModel } from '@peftkit/models';
import prefixTuning from '@peftkit/prefix-tuning';
import { adamSteps, causalLmLoss, loadStories260K } from '../../../test/support/learning.ts';
import { mobyDickWords, padBatch, qaExample } from './learning-data.ts';

// Does prefix tuning learn? stories260K on a templated Q/A set over real words (Moby-Dick) it has never seen in this
// form: the loss on held-out examples (words never trained on) must drop well below the base model's.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(prefixTuning);
const tf = kernel.tf;

test('stories260K: a prefix learns a templated Q/A set; held-out eval loss drops', async (t) => {
  const loaded = await loadStories260K(t, tf);
  if (!loaded?.tokenizer) return;
  const model = loaded.model as LlamaModel;
  const tokenizer = loaded.tokenizer;
  const words = mobyDickWords(56);
  const encode = (w: string) => tokenizer.encode(qaExample(w), { bos: true });
  const train = words.slice(0, 40).map(encode);
  const held = padBatch(words.slice(40).map(encode));
  const manager = kernel.adapters(model);
  const handle = manager.create(
    'qa',
    'prefix-tuning',
    { num_virtual_tokens: 8, prefix_projection: true, encoder_hidden_size: 64 },
    { seed: 3 },
  ).handle;
  const evalLoss = (selection?: { active: string[] }) =>
    tf.tidy(
      () =>
        causalLmLoss(
          tf,
          model.forward(held, selection ? { selection } : {}),
          held.ids,
          held.mask,
        ).dataSync()[0] as number,
    );
  const base = evalLoss();
  const before = evalLoss({ active: ['qa'] });
  const rng = new Rng(5);
  const batchSize = 8;
  const numTensors = tf.memory().numTensors;
  adamSteps(tf, handle.trainableVariables, 40, 0.02, (step) => {
    const start = (step * batchSize) % train.length;
    const batch = padBatch(train.slice(start, start + batchSize));
    return tf.tidy(() =>
      causalLmLoss(
        tf,
        model.forward(batch, { selection: { active: ['qa'] }, training: true, rng }),
        batch.ids,
        batch.mask,
      ),
    );
  });
  assert.equal(tf.memory().numTensors, numTensors, 'training leaves numTensors flat');
  const after = evalLoss({ active: ['qa'] });
  console.log(
    `[prefix-tuning] stories260K Q/A held-out loss: base ${base.toFixed(3)}, adapter at init ${before.toFixed(3)}, ` +
      `after 40 steps ${after.toFixed(3)}`,
  );
  assert.ok(
    after < base - 1.0,
    `held-out loss ${after.toFixed(3)} is at least 1 nat below the base model's ${base.toFixed(3)}`,
  );
  manager.dispose();
  await loaded.cleanup();
});
