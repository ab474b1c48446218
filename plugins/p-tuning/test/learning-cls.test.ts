import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestKernel as createKernel } from '@peftkit/testing';
import pTuning from '@peftkit/p-tuning';
import promptTuning from '@peftkit/prompt-tuning';
import { adamSteps, classificationLoss, loadStories260K } from '../../../test/support/learning.ts';
import { padBatch, smallBert, spamSplit } from '../../prompt-tuning/test/learning-data.ts';

// Learns: P-Tuning (MLP encoder) with the SEQ_CLS classifier copy on a small frozen BERT-shaped encoder classifies real
// SpamAssassin e-mails (balanced, held out) well above the 50 % majority class.

test('P-Tuning (MLP) seq-cls on SpamAssassin: held-out accuracy ≥ 62 % (majority 50 %)', async (t) => {
  const kernel = await createKernel({ logger: { warn() {}, info() {} } });
  kernel.use(promptTuning);
  kernel.use(pTuning);
  const tf = kernel.tf;
  const loaded = await loadStories260K(t, tf);
  if (loaded === undefined) return;
  assert.ok(loaded.tokenizer !== null, 'stories260K ships a tokenizer');
  const data = spamSplit(loaded.tokenizer, 400, 24);
  await loaded.cleanup();
  const model = smallBert(tf);
  const manager = kernel.adapters(model);
  const held = padBatch(data.eval.map((e) => e.ids));
  const accuracy = () =>
    tf.tidy(() => {
      const predicted = tf.argMax(model.classify(held, { selection: { active: ['spam'] } }), 1).dataSync();
      return data.eval.filter((e, i) => predicted[i] === e.label).length / data.eval.length;
    });
  const record = manager.create('spam', 'p-tuning', { num_virtual_tokens: 8, encoder_hidden_size: 64 });
  const initial = accuracy();
  const losses = adamSteps(tf, record.handle.trainableVariables, 60, 0.01, (step) => {
    const rows = Array.from(
      { length: 16 },
      (_, i) => data.train[(step * 16 + i) % data.train.length] as (typeof data.train)[number],
    );
    const out = model.classify(padBatch(rows.map((r) => r.ids)), { selection: { active: ['spam'] }, training: true });
    return classificationLoss(
      tf,
      out,
      rows.map((r) => r.label),
    );
  });
  const final = accuracy();
  t.diagnostic(
    `held-out accuracy ${initial} → ${final} on ${data.eval.length} e-mails; train loss ${losses[0]?.toFixed(3)} ` +
      `→ ${losses.at(-1)?.toFixed(3)}`,
  );
  assert.ok(final >= 0.62, `held-out accuracy ${final} should be ≥ 0.62`);
  manager.dispose();
  model.dispose();
});
