import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createNormSite,
  definePlugin,
  type ForwardCall,
  isPeftkitError,
  type MethodContext,
  type NormSite,
  PeftkitError,
  Rng,
  runNorm,
  type Tensor,
  type Tensor3D,
  z,
} from '@peftkit/core';
import { BertModel, Gpt2Model } from '@peftkit/models';
import { createTinyLlama, logits, maxAbsDiff, tinyBatch } from '@peftkit/testing';
import { createKernel } from 'peftkit';

// The norm site kind of the model-graph seam, and forward-time hook errors tagged with plugin, adapter and site.
const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf = kernel.tf;
const GPT2 = {
  model_type: 'gpt2',
  n_embd: 8,
  n_layer: 2,
  n_head: 2,
  n_positions: 16,
  vocab_size: 32,
  layer_norm_epsilon: 1e-5,
};
const BERT = {
  model_type: 'bert',
  hidden_size: 8,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 16,
  vocab_size: 32,
  max_position_embeddings: 16,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu',
};
const norms = (sites: Iterable<{ kind: string }>) => [...sites].filter((s): s is NormSite => s.kind === 'norm');

test('every norm of Llama, GPT-2 and BERT is a norm site with its Hugging Face name', () => {
  const llama = createTinyLlama(tf);
  const gpt2 = new Gpt2Model(tf, GPT2, { kind: 'random', rng: new Rng(1) });
  const bert = new BertModel(tf, BERT, { kind: 'random', rng: new Rng(1) });
  const described = (model: { sites(): Iterable<{ kind: string }> }) =>
    norms(model.sites()).map((s) => [s.name, s.layer, s.normKind, s.bias !== null]);
  assert.deepEqual(described(llama), [
    ['model.layers.0.input_layernorm', 0, 'rms', false],
    ['model.layers.0.post_attention_layernorm', 0, 'rms', false],
    ['model.layers.1.input_layernorm', 1, 'rms', false],
    ['model.layers.1.post_attention_layernorm', 1, 'rms', false],
    ['model.norm', null, 'rms', false],
  ]);
  assert.deepEqual(described(gpt2), [
    ['transformer.h.0.ln_1', 0, 'layer', true],
    ['transformer.h.0.ln_2', 0, 'layer', true],
    ['transformer.h.1.ln_1', 1, 'layer', true],
    ['transformer.h.1.ln_2', 1, 'layer', true],
    ['transformer.ln_f', null, 'layer', true],
  ]);
  assert.deepEqual(described(bert), [
    ['bert.embeddings.LayerNorm', null, 'layer', true],
    ['bert.encoder.layer.0.attention.output.LayerNorm', 0, 'layer', true],
    ['bert.encoder.layer.0.output.LayerNorm', 0, 'layer', true],
    ['bert.encoder.layer.1.attention.output.LayerNorm', 1, 'layer', true],
    ['bert.encoder.layer.1.output.LayerNorm', 1, 'layer', true],
  ]);
  for (const m of [llama, gpt2, bert]) m.dispose();
});

test('without hooks (or unselected ones) runNorm is bit-identical to the plain norm formulas', () => {
  const rng = new Rng(5);
  const x = tf.tensor3d(rng.normalArray(2 * 3 * 8, 0, 2), [2, 3, 8]);
  const weight = tf.variable(tf.tensor1d(rng.normalArray(8, 1, 0.3)), false);
  const bias = tf.variable(tf.tensor1d(rng.normalArray(8, 0, 0.3)), false);
  const call: ForwardCall = { groups: [], batchSize: 2, training: false, rng: null };
  const same = (a: Tensor, b: Tensor) => assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
  const rms = createNormSite('rms', { layer: 0, normKind: 'rms', eps: 1e-5, weight });
  const ln = createNormSite('ln', { layer: 0, normKind: 'layer', eps: 1e-5, weight, bias });
  rms.hooks.attach('unused', { params: () => ({ mode: 'replace', weight: tf.zeros([8]) }) });
  tf.tidy(() => {
    const variance = tf.mean(tf.square(x), -1, true);
    const plainRms = tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, 1e-5))), weight);
    // Training composes exactly these ops; inference may take the backend's one-kernel RMSNorm, rounded alike.
    same(runNorm(tf, rms, x, { ...call, training: true }), plainRms);
    same(runNorm(tf, rms, x, call), plainRms);
    const centered = tf.sub(x, tf.mean(x, -1, true));
    const v = tf.mean(tf.square(centered), -1, true);
    same(runNorm(tf, ln, x, call), tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(v, 1e-5))), weight), bias));
  });
  for (const t of [x, weight, bias]) t.dispose();
});

/** A bare third-party-style plugin whose hooks come from `attach`; merge 'never' keeps it small. */
function hookPlugin(name: string, attach: (ctx: MethodContext) => void) {
  return definePlugin({
    meta: { name, version: '0.0.1', core: '^1.0.0', family: 'reparam' },
    configSchema: z.strictObject({}),
    capabilities: { merge: 'never', identityAtInit: false, mixedBatch: true },
    inject: (ctx) => {
      attach(ctx);
      return { trainableVariables: [] };
    },
    save: () => ({ config: {}, tensors: {} }),
    load: (ctx) => {
      attach(ctx);
      return { handle: { trainableVariables: [] }, config: {} };
    },
    dispose: (ctx) => {
      for (const site of ctx.model.sites()) site.hooks.detach(ctx.adapterName);
      ctx.model.prompts.detach(ctx.adapterName);
    },
  });
}

test('norm hooks: a bias delta on GPT-2 applies to its rows only; a mixed batch equals per-row calls', async () => {
  const k = await createKernel({ logger: { warn() {}, info() {} } });
  k.use(
    hookPlugin('shift', (ctx) => {
      const site = ctx.model.site('transformer.h.0.ln_2') as NormSite;
      const amount = ctx.adapterName === 'up' ? 0.5 : -0.25;
      site.hooks.attach(ctx.adapterName, { params: () => ({ mode: 'delta', bias: tf.fill([site.dim], amount) }) });
    }),
  );
  const model = new Gpt2Model(k.tf, GPT2, { kind: 'random', rng: new Rng(3) });
  const manager = k.adapters(model);
  manager.create('up', 'shift');
  manager.create('down', 'shift');
  const ids = tinyBatch(3, 5).map((row) => row.map((id) => id % 32));
  const run = (selection?: Parameters<typeof logits>[2]) => logits(model as never, ids, selection);
  const base = run();
  const up = run({ active: ['up'] });
  const down = run({ active: ['down'] });
  const mixed = run({ perRow: ['up', null, 'down'] });
  assert.ok(maxAbsDiff(up, base) > 1e-3 && maxAbsDiff(down, base) > 1e-3, 'the hooks change the output');
  assert.ok(maxAbsDiff([mixed[0] as Float32Array], [up[0] as Float32Array]) <= 1e-5);
  assert.ok(
    maxAbsDiff([mixed[1] as Float32Array], [base[1] as Float32Array]) === 0,
    'an unselected row is the base, bit for bit',
  );
  assert.ok(maxAbsDiff([mixed[2] as Float32Array], [down[2] as Float32Array]) <= 1e-5);
  manager.dispose();
  model.dispose();
});

/** Forward with a plugin whose hook on `where` throws; returns the error. */
async function failingForward(where: 'linear' | 'norm' | 'prompts', thrown: () => never): Promise<PeftkitError> {
  const k = await createKernel({ logger: { warn() {}, info() {} } });
  k.use(
    hookPlugin('acme-broken', (ctx) => {
      const { model, adapterName } = ctx;
      if (where === 'linear')
        (
          model.site('model.layers.0.self_attn.q_proj') as { hooks: { attach(a: string, h: unknown): void } }
        ).hooks.attach(adapterName, { apply: thrown });
      if (where === 'norm') (model.site('model.norm') as NormSite).hooks.attach(adapterName, { params: thrown });
      if (where === 'prompts') model.prompts.attach(adapterName, { virtualTokens: thrown });
    }),
  );
  const model = createTinyLlama(k.tf);
  const manager = k.adapters(model);
  manager.create('broken', 'acme-broken');
  const before = k.tf.memory().numTensors;
  try {
    model.forward({ ids: tinyBatch(2, 4) }, { selection: { perRow: ['broken', null] } }).dispose();
  } catch (error) {
    assert.equal(k.tf.memory().numTensors, before, 'no tensors leak from the failed forward');
    assert.ok(isPeftkitError(error));
    return error;
  } finally {
    manager.dispose();
    model.dispose();
  }
  assert.fail('the forward should have thrown');
}

const boom = (): never => {
  throw new Error('boom');
};

test("a third-party plugin's linear hook that throws comes out tagged {plugin, hook, adapter, site}", async () => {
  const error = await failingForward('linear', boom);
  assert.equal(error.code, 'PEFTKIT_E_PLUGIN_HOOK');
  assert.deepEqual(error.details, {
    plugin: 'acme-broken',
    hook: 'apply',
    adapter: 'broken',
    site: 'model.layers.0.self_attn.q_proj',
  });
  for (const part of ['acme-broken', "'broken'", 'model.layers.0.self_attn.q_proj', 'boom'])
    assert.ok(error.message.includes(part), error.message);
  assert.ok(error.cause instanceof Error && error.cause.message === 'boom');
});

test('a norm hook that throws comes out tagged, and a PeftkitError keeps its own code', async () => {
  const error = await failingForward('norm', boom);
  assert.equal(error.code, 'PEFTKIT_E_PLUGIN_HOOK');
  assert.deepEqual(error.details, { plugin: 'acme-broken', hook: 'params', adapter: 'broken', site: 'model.norm' });
  for (const part of ['acme-broken', "'broken'", 'model.norm', 'boom'])
    assert.ok(error.message.includes(part), error.message);

  const coded = await failingForward('norm', () => {
    throw new PeftkitError('PEFTKIT_E_INPUT', 'bad shape', { shape: [2] });
  });
  assert.equal(coded.code, 'PEFTKIT_E_INPUT');
  assert.deepEqual(coded.details, {
    shape: [2],
    plugin: 'acme-broken',
    hook: 'params',
    adapter: 'broken',
    site: 'model.norm',
  });
});

test('prompt hooks that throw are tagged with the prompts table as their site', async () => {
  const error = await failingForward('prompts', boom);
  assert.deepEqual(error.details, { plugin: 'acme-broken', hook: 'virtualTokens', adapter: 'broken', site: 'prompts' });
});

test('norm sites keep a forward on the tiny model leak-free under a mixed selection', () => {
  const model = createTinyLlama(tf);
  const site = model.site('model.layers.0.input_layernorm') as NormSite;
  const copy = tf.variable(tf.fill([site.dim], 1.5), false);
  site.hooks.attach('x', { params: () => ({ mode: 'replace', weight: copy }) });
  model.adapterNames = new Set(['x']);
  const ids = tinyBatch(2, 4);
  const before = tf.memory().numTensors;
  const out = model.forward({ ids }, { selection: { perRow: ['x', null] } }) as Tensor3D;
  assert.equal(tf.memory().numTensors, before + 1);
  out.dispose();
  copy.dispose();
  model.dispose();
});
