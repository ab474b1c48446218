import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AdapterManager, decodeAdapter, encodeAdapter, isPeftkitError, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { BertModel, Gpt2Model } from '@peftkit/models';
import { maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import lora, { type LoraHandle } from '@peftkit/lora';

// LoRA on the GPT-2 (Conv1D, tied head) and BERT (sequence classification) graphs with random weights.

const warnings: string[] = [];
const kernel = await createKernel({ logger: { warn: (m) => void warnings.push(m), info() {} } });
kernel.use(lora);
const tf = kernel.tf;
const ids = tinyBatch(3, 6).map((row) => row.map((id) => id % 48));

type Model = Gpt2Model | BertModel;
const GPT2 = {
  model_type: 'gpt2',
  n_embd: 16,
  n_layer: 2,
  n_head: 4,
  n_positions: 32,
  vocab_size: 48,
  layer_norm_epsilon: 1e-5,
};
const BERT = {
  model_type: 'bert',
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 32,
  vocab_size: 48,
  max_position_embeddings: 32,
};
const gpt2 = (task: 'causal-lm' | 'seq-cls' = 'causal-lm') =>
  new Gpt2Model(tf, GPT2, { kind: 'random', rng: new Rng(3), std: 0.2 }, { task, labels: ['a', 'b'] });
const bert = () =>
  new BertModel(tf, BERT, { kind: 'random', rng: new Rng(4), std: 0.2 }, { task: 'seq-cls', labels: ['a', 'b', 'c'] });

function out(model: Model, selection?: { active: string[] } | { perRow: (string | null)[] }): Float32Array[] {
  const options = selection ? { selection } : {};
  const t = model.task === 'seq-cls' ? model.classify({ ids }, options) : model.forward({ ids }, options);
  const rows = (t.arraySync() as unknown[]).map((r) => Float32Array.from((r as number[]).flat(2) as number[]));
  t.dispose();
  return rows;
}

/** create → perturb → merged ≈ unmerged → mixed batch → save/load into a fresh model gives the same outputs. */
function roundTrip(
  make: () => Model,
  config: Record<string, unknown>,
): { manager: AdapterManager; handle: LoraHandle; model: Model } {
  const model = make();
  const manager = kernel.adapters(model);
  const record = manager.create('a', 'lora', config);
  perturb(tf, record.handle.trainableVariables, 5);
  const base = out(model);
  const adapted = out(model, { active: ['a'] });
  assert.ok(maxAbsDiff(adapted, base) > 1e-4);
  const mixed = out(model, { perRow: [null, 'a', null] });
  assert.ok(maxAbsDiff(mixed, [base[0], adapted[1], base[2]] as Float32Array[]) < 1e-5);
  const saved = manager.save('a');
  const encoded = encodeAdapter(saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  const other = make();
  const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
  kernel.adapters(other).load('copy', decoded);
  for (const t of Object.values(decoded.tensors)) t.dispose();
  assert.ok(maxAbsDiff(out(other, { active: ['copy'] }), adapted) <= 1e-6, 'save → load');
  kernel.adapters(other).dispose();
  other.dispose();
  return { manager, handle: record.handle as LoraHandle, model };
}

test('GPT-2: default c_attn, Conv1D merge, fan_in_fan_out written as true', () => {
  warnings.length = 0;
  const { manager, handle, model } = roundTrip(gpt2, { r: 4 });
  assert.ok(warnings.some((w) => w.includes('fan_in_fan_out')));
  assert.deepEqual(
    handle.layers.map((l) => [l.site.name, l.a.shape, l.b.shape]),
    [0, 1].map((i) => [`transformer.h.${i}.attn.c_attn`, [4, 16], [48, 4]]),
  );
  assert.equal(handle.config.fan_in_fan_out, true);
  const adapted = out(model, { active: ['a'] });
  manager.merge('a', { safe: true });
  assert.ok(maxAbsDiff(out(model), adapted) < 1e-5);
  manager.dispose();
  model.dispose();
});

test('GPT-2 all-linear skips the tied head; LoRA on the tied wte works unmerged but refuses to merge', () => {
  const all = roundTrip(gpt2, { target_modules: 'all-linear', r: 2, fan_in_fan_out: true });
  assert.equal(all.handle.layers.length, 8);
  all.manager.dispose();
  all.model.dispose();
  warnings.length = 0;
  const tied = roundTrip(gpt2, { target_modules: ['wte'], r: 2 });
  assert.ok(warnings.some((w) => w.includes('tied')));
  assert.throws(
    () => tied.manager.merge('a'),
    (e) => isPeftkitError(e, 'PEFTKIT_E_MERGE_UNSUPPORTED'),
  );
  assert.equal(tied.manager.get('a').merged, false);
  tied.manager.dispose();
  tied.model.dispose();
});

test('BERT seq-cls: default query/value, classifier saved via modules_to_save, layers_to_transform', () => {
  const { manager, handle, model } = roundTrip(bert, { task_type: 'SEQ_CLS' });
  assert.deepEqual(
    handle.layers.map((l) => l.site.name),
    [0, 1].flatMap((i) => [
      `bert.encoder.layer.${i}.attention.self.query`,
      `bert.encoder.layer.${i}.attention.self.value`,
    ]),
  );
  assert.deepEqual(
    handle.modules.map((m) => m.site.name),
    ['classifier'],
  );
  const saved = manager.save('a');
  assert.deepEqual(saved.tensors['base_model.model.classifier.weight']?.shape, [3, 16]);
  assert.deepEqual(saved.tensors['base_model.model.classifier.bias']?.shape, [3]);
  assert.equal(saved.config.task_type, 'SEQ_CLS');
  for (const t of Object.values(saved.tensors)) t.dispose();
  const adapted = out(model, { active: ['a'] });
  manager.merge('a', { safe: true });
  assert.ok(maxAbsDiff(out(model), adapted) < 1e-5);
  manager.unmerge('a');
  const layered = manager.create('l', 'lora', { layers_to_transform: [1], layers_pattern: 'layer' })
    .handle as LoraHandle;
  assert.deepEqual(
    layered.layers.map((l) => l.site.name),
    ['bert.encoder.layer.1.attention.self.query', 'bert.encoder.layer.1.attention.self.value'],
  );
  manager.dispose();
  model.dispose();
});
