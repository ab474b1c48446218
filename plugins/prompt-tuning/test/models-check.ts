import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, encodeAdapter, type MethodPlugin, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { BertModel, Gpt2Model } from '@peftkit/models';
import { maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';

/** Prompt methods on GPT-2 (learned positions, causal LM and seq-cls) and BERT (encoder, pooled first token). */

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
const ids = tinyBatch(3, 6).map((row) => row.map((id) => id % 48));

export function modelsSuite(
  // biome-ignore lint/suspicious/noExplicitAny: any plugin's config and handle types
  plugin: MethodPlugin<any, any>,
  // biome-ignore lint/suspicious/noExplicitAny: see above
  dependencies: readonly MethodPlugin<any, any>[],
  configs: readonly [Record<string, unknown>, Record<string, unknown>],
): void {
  const makers: [string, (tf: Parameters<typeof perturb>[0]) => Model][] = [
    [
      'gpt2 causal-lm',
      (tf) => new Gpt2Model(tf, GPT2, { kind: 'random', rng: new Rng(3), std: 0.2 }, { task: 'causal-lm' }),
    ],
    [
      'gpt2 seq-cls',
      (tf) =>
        new Gpt2Model(tf, GPT2, { kind: 'random', rng: new Rng(3), std: 0.2 }, { task: 'seq-cls', labels: ['a', 'b'] }),
    ],
    [
      'bert seq-cls',
      (tf) =>
        new BertModel(
          tf,
          BERT,
          { kind: 'random', rng: new Rng(4), std: 0.2 },
          { task: 'seq-cls', labels: ['a', 'b', 'c'] },
        ),
    ],
  ];
  for (const [label, make] of makers) {
    test(`${plugin.meta.name} on ${label}: mixed batch = per-row calls, save → load identical, no leaks`, async () => {
      const kernel = await createKernel({ logger: { warn() {}, info() {} } });
      for (const dep of dependencies) kernel.use(dep);
      kernel.use(plugin);
      const tf = kernel.tf;
      const run = (model: Model, selection?: { active: string[] } | { perRow: (string | null)[] }) => {
        const options = selection ? { selection } : {};
        const t = model.task === 'seq-cls' ? model.classify({ ids }, options) : model.forward({ ids }, options);
        const rows = (t.arraySync() as unknown[]).map((r) => Float32Array.from((r as number[]).flat(2) as number[]));
        t.dispose();
        return rows;
      };
      const model = make(tf);
      run(model);
      const start = tf.memory().numTensors;
      const manager = kernel.adapters(model);
      perturb(tf, manager.create('a', plugin.meta.name, configs[0], { seed: 1 }).handle.trainableVariables, 5, 0.3);
      perturb(tf, manager.create('b', plugin.meta.name, configs[1], { seed: 2 }).handle.trainableVariables, 6, 0.3);
      const base = run(model);
      const a = run(model, { active: ['a'] });
      const b = run(model, { active: ['b'] });
      assert.ok(maxAbsDiff(a, base) > 1e-4 && maxAbsDiff(b, base) > 1e-4, 'both adapters change the output');
      const mixed = run(model, { perRow: ['a', null, 'b'] });
      assert.ok(maxAbsDiff([mixed[0] as Float32Array], [a[0] as Float32Array]) <= 1e-5, 'row 0 uses a');
      assert.ok(maxAbsDiff([mixed[1] as Float32Array], [base[1] as Float32Array]) <= 1e-5, 'row 1 uses the base');
      assert.ok(maxAbsDiff([mixed[2] as Float32Array], [b[2] as Float32Array]) <= 1e-5, 'row 2 uses b');
      const withAdapters = tf.memory().numTensors;
      run(model, { perRow: ['a', null, 'b'] });
      assert.equal(tf.memory().numTensors, withAdapters, 'forwards leave no tensors behind');

      const saved = manager.save('a');
      const encoded = encodeAdapter(saved);
      for (const t of Object.values(saved.tensors)) t.dispose();
      const other = make(tf);
      const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
      kernel.adapters(other).load('copy', decoded);
      for (const t of Object.values(decoded.tensors)) t.dispose();
      assert.ok(maxAbsDiff(a, run(other, { active: ['copy'] })) <= 1e-5, 'the loaded adapter reproduces the outputs');
      kernel.adapters(other).dispose();
      other.dispose();
      manager.dispose();
      assert.equal(tf.memory().numTensors, start, 'dispose frees every adapter tensor');
      model.dispose();
    });
  }
}
