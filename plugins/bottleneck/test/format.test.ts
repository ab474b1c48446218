import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, isPeftkitError, type ModelGraph, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { BertModel } from '@peftkit/models';
import { createTinyLlama, logits, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import bottleneck from '@peftkit/bottleneck';
import { adapterFiles, BERT, bnConfig, D, type RawTensor, safetensorsBytes, values } from './adapterhub-files.ts';
import { attachReference, type RefConfig } from './reference.ts';

// AdapterHub interchange, loading: adapters written byte by byte (adapterhub-files.ts, independently of peftkit's
// writer) must load and act exactly as AdapterHub's formula (plain JS in reference.ts) says; bad files are refused.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(bottleneck);
const tf = kernel.tf;

function loadBytes(model: ModelGraph, name: string, config: Record<string, unknown>, tensors: readonly RawTensor[]) {
  const saved = decodeAdapter(tf, JSON.stringify(config), safetensorsBytes(tensors));
  try {
    return kernel.adapters(model).load(name, saved);
  } finally {
    for (const t of Object.values(saved.tensors)) t.dispose();
  }
}

const llamaModules = (role: 'output' | 'both', name: string) =>
  [0, 1].flatMap((i) => [
    ...(role === 'both'
      ? [{ path: `model.layers.${i}.attention_adapters.adapters.${name}`, site: `model.layers.${i}.self_attn` }]
      : []),
    { path: `model.layers.${i}.output_adapters.adapters.${name}`, site: `model.layers.${i}.mlp` },
  ]);

for (const [label, preset, role, ref] of [
  [
    'Pfeiffer (seq_bn)',
    { mh_adapter: false, output_adapter: true, non_linearity: 'relu', original_ln_before: true },
    'output',
    { original_ln_before: true, residual_before_ln: true, non_linearity: 'relu' },
  ],
  [
    'Pfeiffer, residual after the add',
    {
      mh_adapter: false,
      output_adapter: true,
      non_linearity: 'relu',
      original_ln_before: true,
      residual_before_ln: false,
    },
    'output',
    { original_ln_before: true, residual_before_ln: false, non_linearity: 'relu' },
  ],
  [
    'Houlsby (double_seq_bn)',
    { mh_adapter: true, output_adapter: true, non_linearity: 'swish', original_ln_before: false },
    'both',
    { original_ln_before: false, residual_before_ln: true, non_linearity: 'swish' },
  ],
] as [string, Record<string, unknown>, 'output' | 'both', RefConfig][]) {
  test(`AdapterHub ${label} file for a pre-norm Llama loads under another name and matches the formula`, () => {
    const model = createTinyLlama(tf, { seed: 3 });
    const manager = kernel.adapters(model);
    const { tensors, weights } = adapterFiles(llamaModules(role, 'sst'), 4);
    const config = {
      config: bnConfig({ ...preset, reduction_factor: 4 }),
      hidden_size: D,
      model_class: 'LlamaAdapterModel',
      model_name: 'tiny',
      model_type: 'llama',
      name: 'sst',
      version: 'adapters.1.1.0',
    };
    assert.equal(manager.pluginFor(config).meta.name, 'bottleneck', 'the AdapterHub config is recognised');
    loadBytes(model, 'restored', config, tensors);
    const detach = attachReference(tf, model, 'reference', ref, weights);
    const ids = tinyBatch(2, 5);
    const got = logits(model, ids, { active: ['restored'] });
    const want = logits(model, ids, { active: ['reference'] });
    assert.ok(maxAbsDiff(got, want) < 2e-4, `plugin vs formula: ${maxAbsDiff(got, want)}`);
    assert.ok(maxAbsDiff(got, logits(model, ids)) > 1e-3, 'the adapter changes the output');
    detach();
    manager.dispose();
    model.dispose();
  });
}

for (const residual of [true, false, 'post_add'] as const) {
  test(
    `AdapterHub Pfeiffer file for post-norm BERT (residual_before_ln ${residual}) applies the original LayerNorm ` +
      `before the adapter`,
    () => {
      const model = new BertModel(tf, BERT, { kind: 'random', rng: new Rng(5), std: 0.2 });
      // Non-trivial LayerNorm parameters, so that using (or skipping) them shows.
      const norms = new Map<string, { w: Float32Array; b: Float32Array; eps: number }>();
      for (const i of [0, 1]) {
        const name = `bert.encoder.layer.${i}.output.LayerNorm`;
        const params = model.parameters();
        const w = params.get(`${name}.weight`);
        const b = params.get(`${name}.bias`);
        assert.ok(w && b, `${name} exists`);
        w.assign(tf.tensor1d(values(D, 20 + i, 0.5).map((v) => 1 + v)));
        b.assign(tf.tensor1d(values(D, 30 + i, 0.2)));
        norms.set(`bert.encoder.layer.${i}.output`, {
          w: w.dataSync() as Float32Array,
          b: b.dataSync() as Float32Array,
          eps: 1e-12,
        });
      }
      const modules = [0, 1].map((i) => ({
        path: `bert.encoder.layer.${i}.output.adapters.imdb`,
        site: `bert.encoder.layer.${i}.output`,
      }));
      const { tensors, weights } = adapterFiles(modules, 2);
      const preset = {
        mh_adapter: false,
        output_adapter: true,
        non_linearity: 'relu',
        original_ln_before: true,
        residual_before_ln: residual,
        reduction_factor: 8,
      };
      const config = {
        config: bnConfig(preset),
        hidden_size: D,
        model_class: 'BertAdapterModel',
        model_name: 'bert-tiny',
        model_type: 'bert',
        name: 'imdb',
        version: 'adapters.1.1.0',
      };
      loadBytes(model, 'imdb', config, tensors);
      const detach = attachReference(
        tf,
        model,
        'reference',
        { original_ln_before: true, residual_before_ln: residual, non_linearity: 'relu' },
        weights,
        norms,
      );
      const ids = tinyBatch(2, 6);
      const got = logits(model as never, ids, { active: ['imdb'] });
      const want = logits(model as never, ids, { active: ['reference'] });
      assert.ok(maxAbsDiff(got, want) < 1e-4, `plugin vs formula: ${maxAbsDiff(got, want)}`);
      assert.ok(maxAbsDiff(got, logits(model as never, ids)) > 1e-3, 'the adapter changes the output');
      detach();
      kernel.adapters(model).dispose();
      model.dispose();
    },
  );
}

test('bad files are refused with coded errors and leave the model and other adapters untouched', () => {
  const model = createTinyLlama(tf, { seed: 3 });
  const manager = kernel.adapters(model);
  perturb(tf, manager.create('keep', 'bottleneck', { reduction_factor: 4 }).handle.trainableVariables, 5);
  const ids = tinyBatch(2, 5);
  const before = logits(model, ids, { active: ['keep'] });
  const tensorsBefore = tf.memory().numTensors;
  const { tensors } = adapterFiles(llamaModules('output', 'x'), 4);
  const good = {
    config: bnConfig({
      mh_adapter: false,
      output_adapter: true,
      non_linearity: 'relu',
      original_ln_before: true,
      reduction_factor: 4,
    }),
    hidden_size: D,
    name: 'x',
  };
  const cases: [string, Record<string, unknown>, RawTensor[]][] = [
    ['PEFTKIT_E_ADAPTER_CONFIG', { ...good, config: { ...(good.config as object), is_parallel: true } }, tensors],
    ['PEFTKIT_E_ADAPTER_CONFIG', { ...good, config: { ...(good.config as object), use_gating: true } }, tensors],
    ['PEFTKIT_E_ADAPTER_CONFIG', { ...good, hidden_size: 32 }, tensors],
    [
      'PEFTKIT_E_ADAPTER_CONFIG',
      { ...good, config: { ...(good.config as object), non_linearity: 'softplus' } },
      tensors,
    ],
    ['PEFTKIT_E_ADAPTER_KEY_MISSING', good, tensors.slice(1)],
    ['PEFTKIT_E_ADAPTER_KEY_SHAPE', good, tensors.map((t, i) => (i === 4 ? { ...t, shape: [8, 8] } : t))],
    ['PEFTKIT_E_ADAPTER_KEY_MISSING', { ...good, name: 'other' }, tensors],
  ];
  for (const [code, config, files] of cases) {
    assert.throws(
      () => loadBytes(model, 'bad', config, files),
      (e) => isPeftkitError(e, code),
      `expected ${code}`,
    );
    assert.equal(manager.has('bad'), false, 'nothing registered');
  }
  for (const site of model.sites())
    if (site.kind === 'block')
      assert.deepEqual(
        site.hooks.adapters().filter((a) => a !== 'keep'),
        [],
        `no stray hook on ${site.name}`,
      );
  assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor leaked by failed loads');
  assert.ok(maxAbsDiff(before, logits(model, ids, { active: ['keep'] })) === 0, 'the existing adapter is unchanged');
  assert.throws(
    () => manager.pluginFor({ peft_type: 'LORA', r: 8 }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_ADAPTER_FORMAT'),
    'PEFT LoRA is not ours',
  );
  assert.throws(
    () => manager.pluginFor({ config: { architecture: 'lora', r: 8 } }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_ADAPTER_FORMAT'),
    'AdapterHub LoRA is not ours',
  );
  manager.dispose();
  model.dispose();
});
