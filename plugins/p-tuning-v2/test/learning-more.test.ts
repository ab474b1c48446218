import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import type { LlamaModel } from '@peftkit/models';
import pTuningV2 from '@peftkit/p-tuning-v2';
import prefixTuning from '@peftkit/prefix-tuning';
import { adamSteps, causalLmLoss, classificationLoss, loadStories260K } from '../../../test/support/learning.ts';
import { padBatch, smallBert, spamSplit } from '../../prompt-tuning/test/learning-data.ts';
import { mobyDickWords, qaExample } from '../../prefix-tuning/test/learning-data.ts';

// The two other learning checks of issue #6 for P-Tuning v2: deep prompts (with prefix dropout) learn a templated
// Q/A set on stories260K, and classify real SpamAssassin e-mails on a small frozen BERT-shaped encoder with the
// trained classifier head — held-out accuracy above the 50 % majority class.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(prefixTuning).use(pTuningV2);
const tf = kernel.tf;

test('P-Tuning v2 on stories260K: a templated Q/A set over unseen words; held-out loss drops ≥ 1 nat', async (t) => {
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
    'p-tuning-v2',
    { num_virtual_tokens: 8, prefix_projection: true, encoder_hidden_size: 64, prefix_dropout: 0.1 },
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
  const rng = new Rng(5);
  adamSteps(tf, handle.trainableVariables, 40, 0.02, (step) => {
    const start = (step * 8) % train.length;
    const batch = padBatch(train.slice(start, start + 8));
    return tf.tidy(() =>
      causalLmLoss(
        tf,
        model.forward(batch, { selection: { active: ['qa'] }, training: true, rng }),
        batch.ids,
        batch.mask,
      ),
    );
  });
  const after = evalLoss({ active: ['qa'] });
  console.log(`[p-tuning-v2] stories260K Q/A held-out loss: base ${base.toFixed(3)} → ${after.toFixed(3)}`);
  assert.ok(after < base - 1.0, `held-out loss ${after.toFixed(3)} at least 1 nat below the base's ${base.toFixed(3)}`);
  manager.dispose();
  await loaded.cleanup();
});

test('P-Tuning v2 on a small BERT-shaped encoder: SpamAssassin held-out accuracy ≥ 62 % (majority 50 %)', async (t) => {
  const loaded = await loadStories260K(t, tf);
  if (!loaded?.tokenizer) return;
  const data = spamSplit(loaded.tokenizer, 400, 24);
  await loaded.cleanup();
  const model = smallBert(tf);
  const manager = kernel.adapters(model);
  const record = manager.create(
    'spam',
    'p-tuning-v2',
    { num_virtual_tokens: 8, prefix_projection: false, prefix_dropout: 0.1 },
    { seed: 2 },
  );
  const held = padBatch(data.eval.map((e) => e.ids));
  const accuracy = () =>
    tf.tidy(() => {
      const predicted = tf.argMax(model.classify(held, { selection: { active: ['spam'] } }), 1).dataSync();
      return data.eval.filter((e, i) => predicted[i] === e.label).length / data.eval.length;
    });
  const initial = accuracy();
  const rng = new Rng(7);
  adamSteps(tf, record.handle.trainableVariables, 100, 0.02, (step) => {
    const rows = Array.from(
      { length: 16 },
      (_, i) => data.train[(step * 16 + i) % data.train.length] as (typeof data.train)[number],
    );
    const out = model.classify(padBatch(rows.map((r) => r.ids)), {
      selection: { active: ['spam'] },
      training: true,
      rng,
    });
    return classificationLoss(
      tf,
      out,
      rows.map((r) => r.label),
    );
  });
  const final = accuracy();
  console.log(
    `[p-tuning-v2] small BERT SpamAssassin held-out accuracy ${initial} → ${final} (${data.eval.length} e-mails)`,
  );
  assert.ok(final >= 0.62, `held-out accuracy ${final} should be ≥ 0.62`);
  manager.dispose();
  model.dispose();
});
