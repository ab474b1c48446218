import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DenseLinearBase,
  type ForwardCall,
  HookTable,
  type LinearSite,
  type ModelGraph,
  type PrefixHook,
  type PromptHook,
  Rng,
  runLinear,
  type SiteHook,
} from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import lora, { type LoraHandle } from '@peftkit/lora';

// GPT-2 stores its linears as Conv1D ([in, out]). Until a GPT-2 model exists, a hand-built graph with GPT-2 module
// names checks that LoRA keeps PEFT's [r, in] / [out, r] factors and merges through the layout.

const warnings: string[] = [];
const kernel = await createKernel({ logger: { warn: (m) => void warnings.push(m), info() {} } });
kernel.use(lora);
const tf = kernel.tf;
type T3 = ReturnType<SiteHook['apply']>;

function linear(
  name: string,
  inF: number,
  outF: number,
  layout: 'in_out' | 'out_in',
  rng: Rng,
  isHead = false,
): LinearSite {
  const shape: [number, number] = layout === 'in_out' ? [inF, outF] : [outF, inF];
  const init = tf.tensor2d(rng.normalArray(inF * outF, 0, 0.2), shape);
  const weight = tf.variable(init, true);
  init.dispose();
  const b = tf.tensor1d(rng.normalArray(outF, 0, 0.1));
  const bias = isHead ? null : tf.variable(b, true);
  b.dispose();
  return {
    kind: 'linear',
    name,
    layer: isHead ? null : 0,
    layout,
    isHead,
    base: new DenseLinearBase(tf, weight, layout, bias),
    hooks: new HookTable<SiteHook>(name),
  };
}

function tinyGpt2(): ModelGraph & { linear(name: string): LinearSite } {
  const rng = new Rng(11);
  const sites = [
    linear('transformer.h.0.attn.c_attn', 8, 24, 'in_out', rng),
    linear('transformer.h.0.mlp.c_proj', 24, 8, 'in_out', rng),
    linear('lm_head', 8, 32, 'out_in', rng, true),
  ];
  const byName = new Map(sites.map((s) => [s.name, s]));
  const params = new Map(
    sites.flatMap((s) => s.base.variables.map((v, i) => [`${s.name}.${i === 0 ? 'weight' : 'bias'}`, v] as const)),
  );
  return {
    arch: 'gpt2',
    task: 'causal-lm',
    dims: {
      hiddenSize: 8,
      numLayers: 1,
      numHeads: 2,
      numKvHeads: 2,
      headDim: 4,
      vocabSize: 32,
      intermediateSize: 24,
      maxPositions: 16,
    },
    labels: null,
    site: (name) => byName.get(name),
    sites: () => byName.values(),
    linear: (name) => byName.get(name) as LinearSite,
    prompts: new HookTable<PromptHook>('prompts'),
    prefixes: new HookTable<PrefixHook>('prefixes'),
    embed: () => {
      throw new Error('not needed');
    },
    parameters: () => new Map(params),
    dispose: () => {
      for (const v of params.values()) v.dispose();
    },
  };
}

const call = (adapters: string[]): ForwardCall => ({
  groups: adapters.length ? [{ adapters, rows: null }] : [],
  batchSize: 1,
  training: false,
  rng: null,
});

test('GPT-2 default target c_attn: fan_in_fan_out corrected with a warning, PEFT keys and shapes', () => {
  const model = tinyGpt2();
  const manager = kernel.adapters(model);
  warnings.length = 0;
  manager.create('g', 'lora', { r: 2 });
  assert.ok(warnings.some((w) => w.includes('fan_in_fan_out') && w.includes('c_attn')));
  const saved = manager.save('g');
  assert.equal(saved.config.fan_in_fan_out, true);
  assert.deepEqual(saved.config.target_modules, ['c_attn']);
  const shapes = Object.fromEntries(Object.entries(saved.tensors).map(([k, t]) => [k, t.shape]));
  assert.deepEqual(shapes, {
    'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight': [2, 8],
    'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight': [24, 2],
  });
  for (const t of Object.values(saved.tensors)) t.dispose();
  manager.dispose();
  model.dispose();
});

test('Conv1D forward and merge: y = x·W + b + s·x·Aᵀ·Bᵀ, and the [in, out] weight gains (s·B·A)ᵀ', () => {
  const model = tinyGpt2();
  const manager = kernel.adapters(model);
  const record = manager.create('g', 'lora', { r: 2, lora_alpha: 6, fan_in_fan_out: true, init_lora_weights: false });
  const handle = record.handle as LoraHandle;
  const site = model.linear('transformer.h.0.attn.c_attn');
  const w = Array.from((site.base as DenseLinearBase).weight.dataSync());
  const bias = Array.from(site.base.bias?.dataSync() ?? []);
  const layer = handle.layers[0];
  assert.ok(layer?.kind === 'linear');
  const a = Array.from(layer.a.dataSync());
  const b = Array.from(layer.b.dataSync());
  const s = 3;
  const x = Array.from({ length: 8 }, (_, i) => Math.cos(i));
  const expected = Array.from({ length: 24 }, (_, o) => {
    let y = bias[o] as number;
    for (let i = 0; i < 8; i++) y += (x[i] as number) * (w[i * 24 + o] as number);
    for (let k = 0; k < 2; k++) {
      let ax = 0;
      for (let i = 0; i < 8; i++) ax += (a[k * 8 + i] as number) * (x[i] as number);
      y += s * (b[o * 2 + k] as number) * ax;
    }
    return y;
  });
  const forward = (adapters: string[]) =>
    tf.tidy(() => Array.from(runLinear(tf, site, tf.tensor3d(x, [1, 1, 8]) as T3, call(adapters)).dataSync()));
  const got = forward(['g']);
  for (let o = 0; o < 24; o++) assert.ok(Math.abs((got[o] as number) - (expected[o] as number)) < 1e-5);

  manager.merge('g', { safe: true });
  const merged = (site.base as DenseLinearBase).weight.dataSync();
  for (let i = 0; i < 8; i++) {
    for (let o = 0; o < 24; o++) {
      let d = 0;
      for (let k = 0; k < 2; k++) d += (b[o * 2 + k] as number) * (a[k * 8 + i] as number);
      assert.ok(Math.abs((merged[i * 24 + o] as number) - ((w[i * 24 + o] as number) + s * d)) < 1e-5);
    }
  }
  const afterMerge = forward([]);
  for (let o = 0; o < 24; o++) assert.ok(Math.abs((afterMerge[o] as number) - (expected[o] as number)) < 1e-5);
  manager.unmerge('g');
  const restored = (site.base as DenseLinearBase).weight.dataSync();
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs((restored[i] as number) - (w[i] as number)) < 1e-6);
  manager.dispose();
  model.dispose();
});

test('GPT-2 all-linear skips the head; modules_to_save copies keep the Conv1D [in, out] layout on disk', () => {
  const model = tinyGpt2();
  const manager = kernel.adapters(model);
  manager.create('g', 'lora', { target_modules: 'all-linear', r: 2, fan_in_fan_out: true });
  const saved = manager.save('g');
  assert.deepEqual(saved.config.target_modules, ['transformer.h.0.attn.c_attn', 'transformer.h.0.mlp.c_proj']);
  for (const t of Object.values(saved.tensors)) t.dispose();
  manager.create('m', 'lora', { target_modules: ['c_attn'], fan_in_fan_out: true, modules_to_save: ['c_proj'] });
  const withModule = manager.save('m');
  assert.deepEqual(withModule.tensors['base_model.model.transformer.h.0.mlp.c_proj.weight']?.shape, [24, 8]);
  assert.deepEqual(withModule.tensors['base_model.model.transformer.h.0.mlp.c_proj.bias']?.shape, [8]);
  const original = (model.linear('transformer.h.0.mlp.c_proj').base as DenseLinearBase).weight.dataSync();
  assert.deepEqual(withModule.tensors['base_model.model.transformer.h.0.mlp.c_proj.weight']?.dataSync(), original);
  for (const t of Object.values(withModule.tensors)) t.dispose();
  manager.dispose();
  model.dispose();
});
