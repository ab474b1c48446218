import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, disposeSaved, encodeAdapter, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { Gpt2Model } from '@peftkit/models';
import { perturb } from '@peftkit/testing';
import prefixTuning from '@peftkit/prefix-tuning';

// Prefixes on GPT-2 (fused c_attn, learned positions after the prefix, Conv1D weights): per-row selection and PEFT
// save → load, causal LM and seq-cls (score head copy), plus KV-cached decoding equal to a full recomputation.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(prefixTuning);
const tf = kernel.tf;
const GPT2 = { model_type: 'gpt2', n_embd: 16, n_layer: 2, n_head: 4, n_positions: 32, vocab_size: 50 };
const ids = [
  [5, 9, 14, 33, 2],
  [7, 40, 3, 3, 1],
  [11, 3, 45, 12, 8],
];
type Gpt2Task = 'causal-lm' | 'seq-cls';
const gpt2 = (task: Gpt2Task) =>
  new Gpt2Model(
    tf,
    GPT2,
    { kind: 'random', rng: new Rng(8), std: 0.2 },
    task === 'seq-cls' ? { task, labels: ['a', 'b'] } : { task },
  );

function rows(
  model: Gpt2Model,
  task: Gpt2Task,
  selection?: { active: string[] } | { perRow: (string | null)[] },
): number[][] {
  const options = selection ? { selection } : {};
  const out = task === 'seq-cls' ? model.classify({ ids }, options) : model.forward({ ids }, options);
  const values = (out.arraySync() as number[][] | number[][][]).map((r) => (r as number[] | number[][]).flat());
  out.dispose();
  return values;
}

const maxDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);

for (const task of ['causal-lm', 'seq-cls'] as const) {
  test(`GPT-2 ${task}: mixed batch = per-row calls; PEFT save → load gives identical outputs`, () => {
    const model = gpt2(task);
    const manager = kernel.adapters(model);
    perturb(tf, manager.create('a', 'prefix-tuning', { num_virtual_tokens: 3 }).handle.trainableVariables, 2, 0.3);
    perturb(
      tf,
      manager.create('b', 'prefix-tuning', { num_virtual_tokens: 2, prefix_projection: true }).handle
        .trainableVariables,
      3,
      0.3,
    );
    const la = rows(model, task, { active: ['a'] });
    const lb = rows(model, task, { active: ['b'] });
    const base = rows(model, task);
    const mixed = rows(model, task, { perRow: [null, 'b', 'a'] });
    assert.ok(maxDiff(mixed[0] as number[], base[0] as number[]) <= 1e-5, 'row 0: base');
    assert.ok(maxDiff(mixed[1] as number[], lb[1] as number[]) <= 1e-5, 'row 1: b');
    assert.ok(maxDiff(mixed[2] as number[], la[2] as number[]) <= 1e-5, 'row 2: a');
    assert.ok(maxDiff(la[0] as number[], base[0] as number[]) > 1e-4, 'a changes the output');
    const saved = manager.save('a');
    if (task === 'seq-cls') assert.ok(saved.tensors['base_model.score.weight'] !== undefined, 'score head saved');
    const encoded = encodeAdapter(saved);
    disposeSaved(saved);
    const other = gpt2(task);
    const otherManager = kernel.adapters(other);
    const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
    otherManager.load('a2', decoded);
    disposeSaved(decoded);
    const back = rows(other, task, { active: ['a2'] });
    back.forEach((row, i) => {
      assert.ok(maxDiff(row, la[i] as number[]) <= 1e-6, `row ${i} restored`);
    });
    otherManager.dispose();
    other.dispose();
    manager.dispose();
    model.dispose();
  });
}

test('GPT-2: the prefix enters the KV cache once; step-by-step cached logits equal a full forward', () => {
  const model = gpt2('causal-lm');
  const manager = kernel.adapters(model);
  perturb(tf, manager.create('p', 'prefix-tuning', { num_virtual_tokens: 4 }).handle.trainableVariables, 5, 0.3);
  const selection = { active: ['p'] };
  const row = ids[0] as number[];
  const full = model.forward({ ids: [row] }, { selection });
  const expected = (full.arraySync() as number[][][])[0] as number[][];
  full.dispose();
  const cache = model.createCache();
  const first = model.forward({ ids: [row.slice(0, 2)] }, { selection, cache });
  const got = [...((first.arraySync() as number[][][])[0] as number[][])];
  first.dispose();
  for (let i = 2; i < row.length; i++) {
    const step = model.forward({ ids: [[row[i] as number]] }, { selection, cache });
    got.push(((step.arraySync() as number[][][])[0] as number[][])[0] as number[]);
    step.dispose();
  }
  cache.dispose();
  got.forEach((logits, i) => {
    assert.ok(maxDiff(logits, expected[i] as number[]) <= 1e-4, `position ${i}: cached = full`);
  });
  manager.dispose();
  model.dispose();
});
