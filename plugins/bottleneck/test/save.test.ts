import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeAdapter, type ModelGraph, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { BertModel, Gpt2Model } from '@peftkit/models';
import { createTinyLlama, perturb } from '@peftkit/testing';
import bottleneck from '@peftkit/bottleneck';
import { BERT, D, safetensorsHeader } from './adapterhub-files.ts';

// AdapterHub interchange, saving: the config text is compared with a hand-written file, the weights' names and
// shapes are read from the safetensors header by hand.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(bottleneck);
const tf = kernel.tf;

test("save writes AdapterHub's adapter_config.json (sorted keys) and adapter.safetensors names and shapes", () => {
  const model = createTinyLlama(tf, { seed: 3 });
  const manager = kernel.adapters(model);
  perturb(
    tf,
    manager.create('my.task', 'bottleneck', {
      preset: 'houlsby',
      reduction_factor: { default: 4, '1': 8 },
      ln_before: true,
      ln_after: true,
    }).handle.trainableVariables,
    3,
  );
  const saved = manager.save('my.task');
  assert.deepEqual(
    saved.files,
    { config: 'adapter_config.json', weights: 'adapter.safetensors' },
    "AdapterHub's file names",
  );
  const encoded = encodeAdapter(saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  const expected = `{
  "config": {
    "adapter_residual_before_ln": false,
    "cross_adapter": false,
    "dropout": 0,
    "factorized_phm_W": true,
    "factorized_phm_rule": false,
    "hypercomplex_nonlinearity": "glorot-uniform",
    "init_weights": "bert",
    "inv_adapter": null,
    "inv_adapter_reduction_factor": null,
    "is_parallel": false,
    "learn_phm": true,
    "leave_out": [],
    "ln_after": true,
    "ln_before": true,
    "mh_adapter": true,
    "non_linearity": "swish",
    "original_ln_after": true,
    "original_ln_before": false,
    "output_adapter": true,
    "phm_bias": true,
    "phm_c_init": "normal",
    "phm_dim": 4,
    "phm_init_range": 0.0001,
    "phm_layer": false,
    "phm_rank": 1,
    "reduction_factor": {
      "1": 8,
      "default": 4
    },
    "residual_before_ln": true,
    "scaling": 1,
    "shared_W_phm": false,
    "shared_phm_rule": true,
    "stochastic_depth": 0,
    "use_gating": false
  },
  "hidden_size": 16,
  "model_class": "LlamaAdapterModel",
  "model_name": null,
  "model_type": "llama",
  "name": "my.task",
  "version": "peftkit-bottleneck.0.1.0"
}
`;
  assert.equal(encoded.config, expected, 'config file text');
  const header = safetensorsHeader(encoded.weights);
  const want: Record<string, number[]> = {};
  for (const [layer, b] of [
    [0, 4],
    [1, 2],
  ] as const) {
    for (const where of ['attention_adapters', 'output_adapters']) {
      const p = `model.layers.${layer}.${where}.adapters.my.task`;
      Object.assign(want, {
        [`${p}.adapter_down.0.weight`]: [D],
        [`${p}.adapter_down.0.bias`]: [D],
        [`${p}.adapter_down.1.weight`]: [b, D],
        [`${p}.adapter_down.1.bias`]: [b],
        [`${p}.adapter_up.weight`]: [D, b],
        [`${p}.adapter_up.bias`]: [D],
        [`${p}.adapter_norm_after.weight`]: [D],
        [`${p}.adapter_norm_after.bias`]: [D],
      });
    }
  }
  assert.deepEqual(
    Object.fromEntries(Object.entries(header).map(([k, v]) => [k, v.shape])),
    want,
    'tensor names and shapes',
  );
  assert.ok(
    Object.values(header).every((v) => v.dtype === 'F32'),
    'float32 tensors',
  );
  manager.dispose();
  model.dispose();
});

test('BERT and GPT-2 adapters are saved under AdapterHub module paths', () => {
  const gpt2 = new Gpt2Model(
    tf,
    { model_type: 'gpt2', n_embd: D, n_layer: 1, n_head: 4, n_positions: 16, vocab_size: 32 },
    { kind: 'random', rng: new Rng(2) },
  );
  const bert = new BertModel(tf, BERT, { kind: 'random', rng: new Rng(2) });
  const keys = (model: ModelGraph) => {
    const manager = kernel.adapters(model);
    manager.create('a', 'bottleneck', { preset: 'houlsby' });
    const saved = manager.save('a');
    const out = Object.keys(saved.tensors).filter((k) => k.endsWith('adapter_up.weight'));
    for (const t of Object.values(saved.tensors)) t.dispose();
    manager.dispose();
    model.dispose();
    return out.sort();
  };
  assert.deepEqual(
    keys(gpt2),
    [
      'transformer.h.0.attention_adapters.adapters.a.adapter_up.weight',
      'transformer.h.0.output_adapters.adapters.a.adapter_up.weight',
    ],
    'GPT-2 block adapters',
  );
  assert.deepEqual(
    keys(bert),
    [
      'bert.encoder.layer.0.attention.output.adapters.a.adapter_up.weight',
      'bert.encoder.layer.0.output.adapters.a.adapter_up.weight',
      'bert.encoder.layer.1.attention.output.adapters.a.adapter_up.weight',
      'bert.encoder.layer.1.output.adapters.a.adapter_up.weight',
    ],
    'BERT sub-layer output adapters',
  );
});
