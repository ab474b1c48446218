import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError, type ModelGraph, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { LlamaModel } from '@peftkit/models';
import { createTinyLlama, TINY_LLAMA_CONFIG } from '@peftkit/testing';
import lora, { type LoraHandle, patternKey } from '@peftkit/lora';

// Which modules a LoRA config adapts, and with which rank and alpha — PEFT's matching rules on HF module names.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(lora);
const tf = kernel.tf;
const llama = createTinyLlama(tf);
const seqCls = createTinyLlama(tf, { task: 'seq-cls' });

const q = (l: number) => `model.layers.${l}.self_attn.q_proj`;
const v = (l: number) => `model.layers.${l}.self_attn.v_proj`;
const PROJ = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
];

/** Module name → [A shape, B shape, scaling] of the adapter the config creates. */
function adapted(
  config: Record<string, unknown>,
  model: ModelGraph = llama,
): Record<string, [number[], number[], number]> {
  const manager = kernel.adapters(model);
  const handle = manager.create('t', 'lora', config).handle as LoraHandle;
  const out = Object.fromEntries(
    handle.layers.map((l) => [l.site.name, [l.a.shape, l.b.shape, l.scaling] as [number[], number[], number]]),
  );
  manager.delete('t');
  return out;
}
const names = (config: Record<string, unknown>, model?: ModelGraph) => Object.keys(adapted(config, model)).sort();

function rejects(config: Record<string, unknown>, code: string, model: ModelGraph = llama): void {
  const manager = kernel.adapters(model);
  assert.throws(
    () => manager.create('bad', 'lora', config),
    (e) => isPeftkitError(e, code),
  );
  assert.equal(manager.has('bad'), false);
  for (const site of model.sites()) assert.equal(site.hooks.size, 0);
}

/** The tiny Llama under another `model_type` name (to exercise per-architecture defaults). */
function renamed(model: ModelGraph, arch: string): ModelGraph {
  return {
    ...model,
    arch,
    task: model.task,
    dims: model.dims,
    labels: model.labels,
    prompts: model.prompts,
    prefixes: model.prefixes,
    site: (n) => model.site(n),
    sites: () => model.sites(),
    embed: (ids) => model.embed(ids),
    parameters: () => model.parameters(),
    dispose: () => model.dispose(),
  };
}

test('target_modules lists: exact names or suffixes after a dot', () => {
  assert.deepEqual(names({ target_modules: ['q_proj'] }), [q(0), q(1)]);
  assert.deepEqual(names({ target_modules: ['self_attn.q_proj', 'model.layers.1.self_attn.v_proj'] }), [
    q(0),
    q(1),
    v(1),
  ]);
  assert.deepEqual(names({ target_modules: ['model.layers.0.mlp.down_proj'] }), ['model.layers.0.mlp.down_proj']);
  rejects({ target_modules: ['proj'] }, 'PEFTKIT_E_TARGET_NOT_FOUND');
  rejects({ target_modules: ['nothing_here'] }, 'PEFTKIT_E_TARGET_NOT_FOUND');
  rejects({ target_modules: ['self_attn'] }, 'PEFTKIT_E_CONFIG_INVALID');
});

test('target_modules strings are full regex matches; all-linear takes every linear but the head', () => {
  assert.deepEqual(names({ target_modules: '.*layers\\.1\\.self_attn\\.(q|v)_proj' }), [q(1), v(1)]);
  rejects({ target_modules: 'q_proj' }, 'PEFTKIT_E_TARGET_NOT_FOUND');
  rejects({ target_modules: '(unclosed' }, 'PEFTKIT_E_CONFIG_INVALID');
  const all = [0, 1].flatMap((l) => PROJ.map((p) => `model.layers.${l}.${p}`)).sort();
  assert.deepEqual(names({ target_modules: 'all-linear' }), all);
  assert.deepEqual(names({ target_modules: 'ALL-LINEAR' }), all);
  assert.deepEqual(
    names({ target_modules: 'all-linear', task_type: 'SEQ_CLS' }, seqCls),
    all,
    'score head is excluded too',
  );
});

test('exclude_modules: list entries (suffix) and full-match regex strings', () => {
  assert.equal(names({ target_modules: 'all-linear', exclude_modules: ['k_proj', 'mlp.up_proj'] }).length, 10);
  assert.deepEqual(names({ target_modules: ['q_proj', 'v_proj'], exclude_modules: '.*layers\\.0\\..*' }), [q(1), v(1)]);
  rejects({ target_modules: ['q_proj'], exclude_modules: ['q_proj'] }, 'PEFTKIT_E_TARGET_NOT_FOUND');
});

test('layers_to_transform and layers_pattern read the layer index from the module name', () => {
  assert.deepEqual(names({ target_modules: ['q_proj', 'v_proj'], layers_to_transform: 1 }), [q(1), v(1)]);
  assert.deepEqual(names({ target_modules: ['q_proj'], layers_to_transform: [0], layers_pattern: 'layers' }), [q(0)]);
  assert.deepEqual(
    names({ target_modules: ['q_proj'], layers_to_transform: [0, 1], layers_pattern: ['h', 'layers'] }),
    [q(0), q(1)],
  );
  assert.deepEqual(
    names({ target_modules: ['q_proj'], layers_to_transform: [] }),
    [q(0), q(1)],
    'an empty list filters nothing',
  );
  rejects({ target_modules: ['q_proj'], layers_to_transform: [0], layers_pattern: 'h' }, 'PEFTKIT_E_TARGET_NOT_FOUND');
  // An exact full name bypasses the layer filter, as in PEFT.
  assert.deepEqual(names({ target_modules: [q(0), 'v_proj'], layers_to_transform: 1 }), [q(0), v(1)]);
  rejects({ target_modules: '.*q_proj', layers_to_transform: 0 }, 'PEFTKIT_E_CONFIG_INVALID');
  rejects({ target_modules: ['q_proj'], layers_pattern: 'layers' }, 'PEFTKIT_E_CONFIG_INVALID');
});

test('per-architecture default targets', () => {
  assert.deepEqual(names({}), [q(0), v(0), q(1), v(1)].sort());
  const qwen = new LlamaModel(
    tf,
    { ...TINY_LLAMA_CONFIG, model_type: 'qwen2' },
    { kind: 'random', rng: new Rng(1), std: 0.2 },
  );
  assert.deepEqual(names({}, qwen), [q(0), v(0), q(1), v(1)].sort());
  qwen.dispose();
  // BERT's defaults (query, value) do not exist in a Llama graph: the error names them.
  const manager = kernel.adapters(renamed(llama, 'bert'));
  assert.throws(
    () => manager.create('b', 'lora', {}),
    (e) =>
      isPeftkitError(e, 'PEFTKIT_E_TARGET_NOT_FOUND') &&
      JSON.stringify(e.details.targetModules) === '["query","value"]',
  );
  rejects({}, 'PEFTKIT_E_CONFIG_INVALID', renamed(llama, 'falcon'));
});

test('rank_pattern / alpha_pattern: first key matching the name end at a dot boundary wins', () => {
  const shapes = adapted({
    target_modules: ['q_proj', 'v_proj', 'down_proj'],
    r: 8,
    lora_alpha: 16,
    rank_pattern: {
      'layers.0.self_attn.q_proj': 2,
      'layers\\.[01]\\.self_attn\\.v_proj': 4,
      'model.layers.1.mlp.down_proj': 6,
      proj: 1,
    },
    alpha_pattern: { v_proj: 2 },
  });
  assert.deepEqual(shapes[q(0)], [[2, 16], [16, 2], 16 / 2]);
  assert.deepEqual(shapes[q(1)], [[8, 16], [16, 8], 16 / 8]);
  assert.deepEqual(shapes[v(0)], [[4, 16], [8, 4], 2 / 4]);
  assert.deepEqual(shapes['model.layers.1.mlp.down_proj'], [[6, 40], [16, 6], 16 / 6]);
  assert.deepEqual(
    shapes['model.layers.0.mlp.down_proj'],
    [[8, 40], [16, 8], 2],
    "'proj' does not match 'down_proj' (no dot boundary)",
  );

  const order = adapted({ target_modules: ['q_proj'], rank_pattern: { q_proj: 3, 'layers.1.self_attn.q_proj': 5 } });
  assert.equal(order[q(1)]?.[0][0], 3, 'insertion order decides, not specificity');
  assert.equal(patternKey(['a', 'b_c'], 'x.y.b_c', 'rank_pattern'), 'b_c');
  assert.equal(patternKey(['c'], 'x.y.b_c', 'rank_pattern'), undefined);

  const rs = adapted({ target_modules: ['q_proj'], r: 4, lora_alpha: 8, use_rslora: true });
  assert.equal(rs[q(0)]?.[2], 8 / Math.sqrt(4));
});

test('modules_to_save and seq-cls heads', () => {
  const manager = kernel.adapters(seqCls);
  const handle = manager.create('s', 'lora', { target_modules: ['q_proj'] }).handle as LoraHandle;
  assert.deepEqual(
    handle.modules.map((m) => m.site.name),
    ['score'],
    'a seq-cls model trains its head',
  );
  assert.deepEqual(handle.config.modules_to_save, ['classifier', 'score']);
  manager.delete('s');
  rejects({ target_modules: ['q_proj'], modules_to_save: ['embed_tokens'] }, 'PEFTKIT_E_CONFIG_INVALID');
});
