import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestKernel as createKernel } from '@peftkit/testing';
import promptTuning from '@peftkit/prompt-tuning';
import { adamSteps, causalLmLoss, loadStories260K } from '../../../test/support/learning.ts';
import { mobyDickSentences, padBatch } from './learning-data.ts';

// Learns: 8 virtual tokens (SAMPLE_VOCAB init) on the real pretrained stories260K, trained on Moby-Dick sentences,
// lower the held-out next-token loss of unseen Moby-Dick sentences. The base weights stay frozen.

test('prompt tuning on stories260K: held-out Moby-Dick loss drops by > 0.5 nats', async (t) => {
  const kernel = await createKernel({ logger: { warn() {}, info() {} } });
  kernel.use(promptTuning);
  const tf = kernel.tf;
  const loaded = await loadStories260K(t, tf);
  if (loaded === undefined) return;
  const { model, tokenizer } = loaded;
  assert.ok(tokenizer !== null, 'stories260K ships a tokenizer');
  const lm = model.forward?.bind(model);
  assert.ok(lm !== undefined, 'stories260K is a causal LM');
  const data = mobyDickSentences(tokenizer, 48, 32);
  const held = padBatch(data.eval);
  const manager = kernel.adapters(model);
  const evalLoss = (adapter?: string) =>
    tf.tidy(
      () =>
        causalLmLoss(
          tf,
          lm(held, adapter ? { selection: { active: [adapter] } } : {}),
          held.ids,
          held.mask,
        ).dataSync()[0] as number,
    );
  const base = evalLoss();
  const record = manager.create('melville', 'prompt-tuning', {
    num_virtual_tokens: 8,
    prompt_tuning_init: 'SAMPLE_VOCAB',
  });
  const before = tf.memory().numTensors;
  const losses = adamSteps(tf, record.handle.trainableVariables, 20, 0.1, (step) => {
    const batch = padBatch(
      Array.from({ length: 8 }, (_, i) => data.train[(step * 8 + i) % data.train.length] as number[]),
    );
    return causalLmLoss(tf, lm(batch, { selection: { active: ['melville'] }, training: true }), batch.ids, batch.mask);
  });
  assert.equal(tf.memory().numTensors, before, 'training steps leave no tensors behind');
  const after = evalLoss('melville');
  t.diagnostic(
    `held-out loss: base ${base.toFixed(3)} → prompt-tuned ${after.toFixed(3)}; train ${losses[0]?.toFixed(3)} ` +
      `→ ${losses.at(-1)?.toFixed(3)}`,
  );
  assert.ok(after < base - 0.5, `held-out loss ${base} → ${after} should drop by more than 0.5`);
  assert.equal(evalLoss(), base, 'the base model is unchanged');
  manager.dispose();
  await loaded.cleanup();
});
