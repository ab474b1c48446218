import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, disposeSaved, encodeAdapter, isPeftkitError, Rng, type SavedAdapter } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { BertModel } from '@peftkit/models';
import { maxAbsDiff, perturb } from '@peftkit/testing';
import pTuningV2 from '@peftkit/p-tuning-v2';
import prefixTuning, { CHECKPOINT_KEY, type PrefixHandle, saveTrainingCheckpoint } from '@peftkit/prefix-tuning';

// P-Tuning v2 on a BERT-shaped encoder: prefixes in every encoder layer plus the trained classifier (with its bias),
// saved as PEFT's PREFIX_TUNING file + `base_model.classifier.*`; prefix dropout acts only while training.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(prefixTuning);
kernel.use(pTuningV2);
const tf = kernel.tf;
const BERT = {
  model_type: 'bert',
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 32,
  vocab_size: 64,
  max_position_embeddings: 64,
  num_labels: 2,
};
const ids = [
  [2, 9, 14, 33, 5],
  [2, 40, 7, 7, 1],
  [2, 3, 60, 12, 8],
];
const bert = () => new BertModel(tf, BERT, { kind: 'random', rng: new Rng(3), std: 0.2 });

/** Class logits per row as plain arrays. */
function logits(
  model: BertModel,
  rows: number[][],
  selection?: { active: string[] } | { perRow: (string | null)[] },
): Float32Array[] {
  const out = model.classify({ ids: rows }, selection ? { selection } : {});
  const values = out.arraySync() as number[][];
  out.dispose();
  return values.map((row) => Float32Array.from(row));
}

function bytes(saved: SavedAdapter): { config: string; weights: Uint8Array } {
  const encoded = encodeAdapter(saved);
  disposeSaved(saved);
  return encoded;
}

test(
  'BERT seq-cls: PEFT keys (prompt_embeddings + base_model.classifier.weight/bias); mixed batch; ' +
    'loads back by either plugin',
  () => {
    const model = bert();
    const manager = kernel.adapters(model);
    const handle = manager.create('a', 'p-tuning-v2', { num_virtual_tokens: 3 }).handle as PrefixHandle;
    assert.equal(handle.dropout, 0.1, 'THUDM default prefix dropout');
    assert.equal(
      handle.trainableVariables.reduce((n, v) => n + v.size, 0),
      3 * 2 * 2 * 16 + (2 * 16 + 2),
      'T × L × 2 × hidden + classifier weight and bias',
    );
    perturb(tf, handle.trainableVariables, 3, 0.3);
    perturb(
      tf,
      manager.create('b', 'p-tuning-v2', { num_virtual_tokens: 2, prefix_projection: true }).handle.trainableVariables,
      4,
      0.3,
    );
    const la = logits(model, ids, { active: ['a'] });
    const lb = logits(model, ids, { active: ['b'] });
    const base = logits(model, ids);
    const mixed = logits(model, ids, { perRow: ['b', 'a', null] });
    assert.ok(maxAbsDiff([mixed[0] as Float32Array], [lb[0] as Float32Array]) <= 1e-5, 'row 0 uses b');
    assert.ok(maxAbsDiff([mixed[1] as Float32Array], [la[1] as Float32Array]) <= 1e-5, 'row 1 uses a');
    assert.ok(maxAbsDiff([mixed[2] as Float32Array], [base[2] as Float32Array]) <= 1e-5, 'row 2 uses the base');
    assert.ok(maxAbsDiff(la, base) > 1e-4, 'the adapter changes the output');

    const saved = manager.save('a');
    assert.deepEqual(
      Object.keys(saved.tensors).sort(),
      ['base_model.classifier.bias', 'base_model.classifier.weight', 'prompt_embeddings'],
      'PEFT keys',
    );
    assert.deepEqual(saved.tensors.prompt_embeddings?.shape, [3, 2 * 2 * 16], '[T, L·2·hidden]');
    assert.equal(saved.config.peft_type, 'PREFIX_TUNING', 'saved as PREFIX_TUNING');
    assert.equal(saved.config.task_type, 'SEQ_CLS', 'SEQ_CLS');
    assert.deepEqual(saved.config.modules_to_save, ['classifier', 'score'], 'heads in modules_to_save');
    assert.equal(saved.config.prefix_dropout, undefined, 'no peftkit-only field in the PEFT file');
    const file = bytes(saved);

    const other = bert();
    const otherManager = kernel.adapters(other);
    for (const [name, options] of [
      ['auto', {}],
      ['v2', { method: 'p-tuning-v2' }],
    ] as const) {
      const decoded = decodeAdapter(tf, file.config, file.weights);
      const record = otherManager.load(name, decoded, options);
      disposeSaved(decoded);
      assert.ok(maxAbsDiff(la, logits(other, ids, { active: [name] })) <= 1e-5, `${name}: same outputs`);
      assert.equal(record.plugin.meta.name, name === 'auto' ? 'prefix-tuning' : 'p-tuning-v2', `${name}: plugin`);
    }
    otherManager.dispose();
    other.dispose();
    manager.dispose();
    model.dispose();
  },
);

test(
  'prefix dropout: training forwards draw masks from the call rng; inference is unaffected; ' +
    'the checkpoint keeps the rate',
  () => {
    const model = bert();
    const manager = kernel.adapters(model);
    manager.create('d', 'p-tuning-v2', { num_virtual_tokens: 4, prefix_dropout: 0.3 });
    const run = (options: Record<string, unknown>) => {
      const out = model.classify({ ids }, { selection: { active: ['d'] }, ...options });
      const values = Array.from(out.dataSync());
      out.dispose();
      return values;
    };
    assert.deepEqual(
      run({ training: true, rng: new Rng(5) }),
      run({ training: true, rng: new Rng(5) }),
      'same seed, same masks',
    );
    assert.notDeepEqual(
      run({ training: true, rng: new Rng(5) }),
      run({ training: true, rng: new Rng(6) }),
      'other seed, other masks',
    );
    assert.deepEqual(run({ training: false, rng: new Rng(5) }), run({}), 'no dropout at inference');
    assert.notDeepEqual(run({ training: true, rng: new Rng(5) }), run({}), 'dropout acts while training');

    const checkpoint = saveTrainingCheckpoint(manager, 'd');
    assert.equal(checkpoint.config.prefix_dropout, 0.3, 'checkpoint keeps prefix_dropout');
    assert.deepEqual(checkpoint.config[CHECKPOINT_KEY], { method: 'p-tuning-v2', version: '0.1.0' }, 'marked');
    const file = bytes(checkpoint);
    const decoded = decodeAdapter(tf, file.config, file.weights);
    const restored = manager.load('r', decoded, { method: 'p-tuning-v2' }).handle as PrefixHandle;
    disposeSaved(decoded);
    assert.equal(restored.dropout, 0.3, 'dropout restored');
    manager.dispose();
    model.dispose();
  },
);

test('registering P-Tuning v2 without the prefix-tuning plugin is a coded dependency error', async () => {
  const bare = await createKernel({ logger: { warn() {}, info() {} } });
  assert.throws(
    () => bare.use(pTuningV2),
    (e) => isPeftkitError(e, 'PEFTKIT_E_PLUGIN_DEPENDENCY'),
    'prefix-tuning must be registered first',
  );
});
