import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { BertModel } from '@peftkit/models';
import bottleneck, { type BottleneckHandle, parameterCount } from '@peftkit/bottleneck';
import { adamSteps, classificationLoss, loadStories260K, spamAssassin } from '../../../test/support/learning.ts';

// Does a bottleneck adapter learn to classify? Real SpamAssassin e-mails (balanced ham/spam), tokenized with
// stories260K's tokenizer, classified by a small random BERT-shaped encoder whose only trainable parameters are the
// adapters (the random pooler and classifier stay frozen): held-out accuracy must beat the 50 % majority class.
// The numbers printed here are the ones in README.md.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(bottleneck);
const tf = kernel.tf;
const PER_CLASS_TRAIN = 300;
const PER_CLASS_HELD = 100;
const LEN = 32;
const HIDDEN = 32;

test(
  'SpamAssassin on a small random BERT with Houlsby adapters: ' + 'held-out accuracy beats the majority class',
  async (t) => {
    const loaded = await loadStories260K(t, tf);
    if (!loaded) return;
    const { tokenizer } = loaded;
    assert.ok(tokenizer, 'stories260K tokenizer');
    const encode = (text: string) => {
      const ids = tokenizer.encode(text, { bos: true }).slice(0, LEN);
      const pad = new Array<number>(LEN - ids.length).fill(0);
      return { ids: [...ids, ...pad], mask: [...ids.map(() => 1), ...pad] };
    };
    type Row = ReturnType<typeof encode> & { label: 0 | 1 };
    const data: Row[] = spamAssassin(2 * (PER_CLASS_TRAIN + PER_CLASS_HELD), { seed: 7 }).map((e) => ({
      ...encode(e.text),
      label: e.label,
    }));
    const ham = data.filter((r) => r.label === 0);
    const spam = data.filter((r) => r.label === 1);
    // Balanced, disjoint splits: training batches alternate ham and spam.
    const train = ham.slice(0, PER_CLASS_TRAIN).flatMap((r, i) => [r, spam[i] as Row]);
    const held = [...ham.slice(PER_CLASS_TRAIN), ...spam.slice(PER_CLASS_TRAIN)];
    assert.equal(held.length, 2 * PER_CLASS_HELD, 'held-out set is balanced');
    const model = new BertModel(
      tf,
      {
        model_type: 'bert',
        hidden_size: HIDDEN,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 2 * HIDDEN,
        vocab_size: 512,
        max_position_embeddings: 64,
        type_vocab_size: 2,
        id2label: { 0: 'ham', 1: 'spam' },
      },
      { kind: 'random', rng: new Rng(3), std: 0.1 },
    );
    const manager = kernel.adapters(model);
    const handle = manager.create('spam', 'bottleneck', {
      preset: 'houlsby',
      reduction_factor: 2,
      init_weights: 'mam_adapter',
    }).handle as BottleneckHandle;
    const classify = (rows: readonly Row[], training = false) =>
      model.classify(
        { ids: rows.map((r) => r.ids), mask: rows.map((r) => r.mask) },
        { selection: { active: ['spam'] }, training },
      );
    const accuracy = () =>
      tf.tidy(() => {
        const predicted = tf.argMax(classify(held), -1).dataSync();
        return held.filter((r, i) => predicted[i] === r.label).length / held.length;
      });
    const before = accuracy();
    const tensors = tf.memory().numTensors;
    const losses = adamSteps(tf, handle.trainableVariables, 50, 1e-2, (step) => {
      const batch = Array.from({ length: 32 }, (_, i) => train[(step * 32 + i) % train.length] as Row);
      return classificationLoss(
        tf,
        classify(batch, true),
        batch.map((r) => r.label),
      );
    });
    assert.equal(tf.memory().numTensors, tensors, 'numTensors flat across training');
    const after = accuracy();
    console.log(
      `[bottleneck spamassassin houlsby rf2] trainable=${parameterCount(handle)} held-out accuracy ` +
        `${before.toFixed(3)} → ${after.toFixed(3)} (majority 0.500; train loss ${losses[0]?.toFixed(4)} ` +
        `→ ${losses.at(-1)?.toFixed(4)})`,
    );
    assert.ok(after >= 0.65, `held-out accuracy ${after} beats the 50 % majority class by ≥ 15 points`);
    manager.dispose();
    model.dispose();
    await loaded.cleanup();
  },
);
