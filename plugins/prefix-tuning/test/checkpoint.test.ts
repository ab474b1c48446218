import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AdapterManager, decodeAdapter, disposeSaved, encodeAdapter, Rng, type SavedAdapter } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, logits, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import prefixTuning, { CHECKPOINT_KEY, type PrefixHandle, saveTrainingCheckpoint } from '@peftkit/prefix-tuning';
import { adamSteps, causalLmLoss } from '../../../test/support/learning.ts';

// The PEFT file keeps only the MLP's output; the training checkpoint keeps the MLP so training resumes with it.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(prefixTuning);
const tf = kernel.tf;
const ids = tinyBatch(2, 6);
const MLP = { num_virtual_tokens: 3, prefix_projection: true, encoder_hidden_size: 6 };

function throughBytes(saved: SavedAdapter, manager: AdapterManager, name: string): PrefixHandle {
  const encoded = encodeAdapter(saved);
  disposeSaved(saved);
  const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
  try {
    return manager.load(name, decoded).handle as PrefixHandle;
  } finally {
    disposeSaved(decoded);
  }
}

function trainSteps(
  model: ReturnType<typeof createTinyLlama>,
  name: string,
  handle: PrefixHandle,
  steps: number,
): number[] {
  const rng = new Rng(3);
  return adamSteps(tf, handle.trainableVariables, steps, 0.05, () =>
    tf.tidy(() =>
      causalLmLoss(tf, model.forward({ ids }, { selection: { active: [name] }, training: true, rng }), ids),
    ),
  );
}

test('training checkpoint keeps the MLP: same outputs, same variables, training resumes', () => {
  const a = createTinyLlama(tf);
  const am = kernel.adapters(a);
  const handle = am.create('p', 'prefix-tuning', MLP).handle as PrefixHandle;
  perturb(tf, handle.trainableVariables, 9);
  const expected = logits(a, ids, { active: ['p'] });
  const checkpoint = saveTrainingCheckpoint(am, 'p');
  assert.deepEqual(
    Object.keys(checkpoint.tensors).sort(),
    [
      'prompt_embeddings',
      'prompt_encoder.embedding.weight',
      'prompt_encoder.transform.0.bias',
      'prompt_encoder.transform.0.weight',
      'prompt_encoder.transform.2.bias',
      'prompt_encoder.transform.2.weight',
    ],
    'PEFT module names of the encoder plus the PEFT tensor',
  );
  assert.deepEqual(
    checkpoint.config[CHECKPOINT_KEY],
    { method: 'prefix-tuning', version: '0.1.0' },
    'marked as a checkpoint',
  );
  assert.equal(checkpoint.config.inference_mode, false, 'training state');

  const b = createTinyLlama(tf);
  const bm = kernel.adapters(b);
  const restored = throughBytes(checkpoint, bm, 'r');
  assert.ok(restored.encoder.projection !== null, 'MLP rebuilt');
  assert.equal(restored.trainableVariables.length, 5, 'embedding and two linears');
  assert.ok(maxAbsDiff(expected, logits(b, ids, { active: ['r'] })) <= 1e-6, 'identical outputs');
  const w1 = Float32Array.from(restored.encoder.projection.w1.dataSync());
  const before = tf.memory().numTensors;
  const losses = trainSteps(b, 'r', restored, 4);
  assert.equal(tf.memory().numTensors, before, 'training steps leave numTensors flat');
  assert.ok((losses.at(-1) as number) < (losses[0] as number), `loss falls after resuming: ${losses.join(' → ')}`);
  assert.ok(
    restored.encoder.projection.w1.dataSync().some((x, i) => x !== w1[i]),
    'the MLP itself is trained',
  );
  bm.dispose();
  b.dispose();
  am.dispose();
  a.dispose();
});

test(
  'a PEFT file of a projected adapter loads flat (as PEFT inference does) with the same outputs; ' +
    'its checkpoint says flat',
  () => {
    const a = createTinyLlama(tf);
    const am = kernel.adapters(a);
    perturb(tf, am.create('p', 'prefix-tuning', MLP).handle.trainableVariables, 4);
    const expected = logits(a, ids, { active: ['p'] });
    const saved = am.save('p');
    assert.deepEqual(Object.keys(saved.tensors), ['prompt_embeddings'], 'PEFT keeps only the projected table');
    assert.equal(saved.config.prefix_projection, true, 'config still says prefix_projection');
    const b = createTinyLlama(tf);
    const bm = kernel.adapters(b);
    const flat = throughBytes(saved, bm, 'flat');
    assert.equal(flat.encoder.projection, null, 'flat table');
    assert.equal(flat.trainableVariables.length, 1, 'one trainable table');
    assert.ok(maxAbsDiff(expected, logits(b, ids, { active: ['flat'] })) <= 1e-5, 'same outputs');
    const checkpoint = saveTrainingCheckpoint(bm, 'flat');
    assert.equal(checkpoint.config.prefix_projection, false, 'the checkpoint describes what it holds');
    const again = throughBytes(checkpoint, bm, 'again');
    assert.ok(maxAbsDiff(expected, logits(b, ids, { active: ['again'] })) <= 1e-5, 'and reloads');
    assert.equal(again.encoder.projection, null, 'still flat');
    bm.dispose();
    b.dispose();
    am.dispose();
    a.dispose();
  },
);

test('forwards (inference, training) and save leave numTensors flat; dispose frees everything', () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  logits(model, ids);
  const start = tf.memory().numTensors;
  manager.create('p', 'prefix-tuning', MLP);
  const withAdapter = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    logits(model, ids, { perRow: ['p', null] });
    model.forward({ ids }, { selection: { active: ['p'] }, training: true, rng: new Rng(i) }).dispose();
    disposeSaved(manager.save('p'));
    disposeSaved(saveTrainingCheckpoint(manager, 'p'));
    assert.equal(tf.memory().numTensors, withAdapter, `step ${i}: flat`);
  }
  manager.delete('p');
  assert.equal(tf.memory().numTensors, start, 'back to the start after delete');
  model.dispose();
});
