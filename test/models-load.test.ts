import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type ForwardInput, Rng, type Tf } from '@peftkit/core';
import { createKernel } from 'peftkit';
import {
  ARCHITECTURES,
  BertModel,
  Gpt2Model,
  LlamaModel,
  type LoadedModelGraph,
  loadModel,
  saveModel,
} from '@peftkit/models';
import { createTinyLlama, TINY_LLAMA_CONFIG, tinyBatch } from '@peftkit/testing';
import { readModelWeights, writeSafetensorsFile, writeShardedSafetensors } from '../packages/io/src/safetensors.ts';
import { Llama2cTokenizer } from '../packages/models/src/tokenizers/llama2c.ts';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf: Tf = kernel.tf;
const ROOT = mkdtempSync(join(tmpdir(), 'peftkit-load-'));
let dirs = 0;
const newDir = () => {
  const dir = join(ROOT, `m${dirs++}`);
  mkdirSync(dir);
  return dir;
};
const random = (seed: number) => ({ kind: 'random' as const, rng: new Rng(seed), std: 0.3 });
const isCode = (code: string) => (e: unknown) => (e as { code?: string }).code === code;

const GPT2_CONFIG = {
  model_type: 'gpt2',
  architectures: ['GPT2LMHeadModel'],
  n_embd: 16,
  n_layer: 2,
  n_head: 2,
  n_positions: 16,
  vocab_size: 32,
};
const BERT_CONFIG = {
  model_type: 'bert',
  architectures: ['BertForSequenceClassification'],
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 24,
  vocab_size: 32,
  max_position_embeddings: 16,
  num_labels: 3,
};
const IDS = tinyBatch(2, 6).map((r) => r.map((id) => id % 32));

/** Logits as raw float32 bits, for bit-exact comparisons. */
function bits(model: LoadedModelGraph, input: ForwardInput): Uint32Array {
  const out = model.forward && model.task === 'causal-lm' ? model.forward(input) : model.classify(input);
  const data = (out.dataSync() as Float32Array).slice();
  out.dispose();
  return new Uint32Array(data.buffer);
}

/** Host tensors of a model's parameters, as a checkpoint writer takes them. */
function tensorsOf(model: LoadedModelGraph) {
  return [...model.parameters()].map(([name, v]) => ({
    name,
    dtype: 'F32' as const,
    shape: v.shape,
    data: (v.dataSync() as Float32Array).slice(),
  }));
}

test('a sharded Hugging Face Llama checkpoint loads bit-exactly; save → load round-trips', async () => {
  const original = createTinyLlama(tf);
  const dir = newDir();
  await writeShardedSafetensors(dir, tensorsOf(original), { maxShardBytes: 8 * 1024 });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(TINY_LLAMA_CONFIG));
  const loaded = await loadModel(tf, dir);
  assert.ok(loaded.model instanceof LlamaModel, 'dispatches llama to LlamaModel');
  assert.equal(loaded.model.task, 'causal-lm');
  assert.equal(loaded.tokenizer, null);
  assert.equal(loaded.generationConfig, null);
  assert.deepEqual(bits(loaded.model, { ids: IDS }), bits(original, { ids: IDS }));
  const again = newDir();
  await saveModel(loaded.model, again, { config: loaded.config });
  const reloaded = await loadModel(tf, again);
  assert.deepEqual(bits(reloaded.model, { ids: IDS }), bits(original, { ids: IDS }));
  for (const m of [original, loaded.model, reloaded.model]) m.dispose();
});

test('tied weights are written once, as Hugging Face does (Llama tied, GPT-2)', async () => {
  const config = { ...TINY_LLAMA_CONFIG, tie_word_embeddings: true };
  const cases = [
    {
      config,
      model: new LlamaModel(tf, config, random(3)),
      absent: 'lm_head.weight',
      present: 'model.embed_tokens.weight',
    },
    {
      config: GPT2_CONFIG,
      model: new Gpt2Model(tf, GPT2_CONFIG, random(4)),
      absent: 'lm_head.weight',
      present: 'transformer.wte.weight',
    },
  ];
  for (const { config: c, model, absent, present } of cases) {
    const dir = newDir();
    await saveModel(model, dir, { config: c });
    const names = [...(await readModelWeights(dir)).tensors.keys()];
    assert.ok(names.includes(present) && !names.includes(absent), `${c.model_type}: ${names.join(', ')}`);
    const loaded = await loadModel(tf, dir);
    assert.deepEqual(bits(loaded.model, { ids: IDS }), bits(model, { ids: IDS }));
    model.dispose();
    loaded.model.dispose();
  }
});

test('GPT-2 and BERT save → load round-trip bit-exactly (weights files identical on a second save)', async () => {
  const models = [
    { config: GPT2_CONFIG, model: new Gpt2Model(tf, GPT2_CONFIG, random(5)) as LoadedModelGraph, type: Gpt2Model },
    { config: BERT_CONFIG, model: new BertModel(tf, BERT_CONFIG, random(6)) as LoadedModelGraph, type: BertModel },
  ];
  for (const { config, model, type } of models) {
    const first = newDir();
    await saveModel(model, first, { config });
    const conv = (await readModelWeights(first)).tensors.get('transformer.h.0.attn.c_attn.weight');
    if (config === GPT2_CONFIG) assert.deepEqual(conv?.shape, [16, 48], 'Conv1D weights are stored [in, out]');
    const loaded = await loadModel(tf, first);
    assert.ok(loaded.model instanceof type, `${config.model_type} dispatch`);
    const input = { ids: IDS, mask: [IDS[0]?.map(() => 1) ?? [], [0, 0, 1, 1, 1, 1]] };
    assert.deepEqual(bits(loaded.model, input), bits(model, input));
    const second = newDir();
    await saveModel(loaded.model, second, { config: loaded.config });
    assert.ok(
      readFileSync(join(first, 'model.safetensors')).equals(readFileSync(join(second, 'model.safetensors'))),
      'identical weight files',
    );
    model.dispose();
    loaded.model.dispose();
  }
});

test('tokenizer, generation config and extra files travel through save and load', async () => {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const pieces = ['<unk>', '\n<s>\n', '\n</s>\n', ...bytes, ' a', 'b'];
  const tokenizer = new Llama2cTokenizer({
    maxTokenLength: 4,
    pieces,
    scores: Float32Array.from(pieces, (_, i) => -i),
  });
  const model = createTinyLlama(tf);
  const dir = newDir();
  await saveModel(model, dir, {
    config: { ...TINY_LLAMA_CONFIG },
    generationConfig: { max_new_tokens: 7 },
    tokenizerFiles: {
      'tokenizer.json': JSON.stringify(tokenizer.toHfTokenizerJson()),
      'tokenizer_config.json': JSON.stringify(tokenizer.toHfTokenizerConfig()),
    },
  });
  const loaded = await loadModel(tf, dir);
  assert.ok(loaded.tokenizer !== null, 'tokenizer loaded');
  assert.deepEqual(loaded.generationConfig, { max_new_tokens: 7 });
  await assert.rejects(
    saveModel(model, newDir(), { config: {}, tokenizerFiles: { '../x.json': '{}' } }),
    isCode('PEFTKIT_E_MODEL_SAVE'),
  );
  // Switching to shards removes the single-file entry point so no loader reads stale weights.
  await saveModel(model, dir, { config: { ...TINY_LLAMA_CONFIG }, maxShardBytes: 4096 });
  assert.ok(
    !existsSync(join(dir, 'model.safetensors')) && existsSync(join(dir, 'model.safetensors.index.json')),
    'sharded layout only',
  );
  const sharded = await loadModel(tf, dir);
  assert.deepEqual(bits(sharded.model, { ids: IDS }), bits(model, { ids: IDS }));
  for (const m of [model, loaded.model, sharded.model]) m.dispose();
});

test('the task follows `architectures`; a missing head is initialized (seeded), as Hugging Face does', async () => {
  const base = createTinyLlama(tf);
  const dir = newDir();
  await saveModel(base, dir, {
    config: {
      ...TINY_LLAMA_CONFIG,
      architectures: ['LlamaForSequenceClassification'],
      id2label: { 0: 'x', 1: 'y', 2: 'z' },
    },
  });
  const a = await loadModel(tf, dir, { seed: 9 });
  const b = await loadModel(tf, dir, { seed: 9 });
  assert.equal(a.model.task, 'seq-cls');
  assert.deepEqual(a.model.labels, ['x', 'y', 'z']);
  assert.deepEqual(a.initializedTensors, ['score.weight']);
  const logits = a.model.classify({ ids: IDS });
  assert.deepEqual(logits.shape, [2, 3]);
  logits.dispose();
  assert.deepEqual(bits(a.model, { ids: IDS }), bits(b.model, { ids: IDS }));
  const causal = await loadModel(tf, dir, { task: 'causal-lm' });
  assert.equal(causal.model.task, 'causal-lm');
  for (const m of [base, a.model, b.model, causal.model]) m.dispose();
});

test('a bare BERT base checkpoint (no bert. prefix, LayerNorm gamma/beta) loads for classification', async () => {
  const full = new BertModel(tf, BERT_CONFIG, random(8));
  const dir = newDir();
  const bare = tensorsOf(full)
    .filter((t) => !t.name.startsWith('classifier.'))
    .map((t) => ({
      ...t,
      name: t.name
        .replace(/^bert\./, '')
        .replace(/LayerNorm\.weight$/, 'LayerNorm.gamma')
        .replace(/LayerNorm\.bias$/, 'LayerNorm.beta'),
    }));
  await writeSafetensorsFile(join(dir, 'model.safetensors'), bare);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...BERT_CONFIG, architectures: ['BertModel'] }));
  const loaded = await loadModel(tf, dir);
  assert.deepEqual(loaded.initializedTensors, ['classifier.weight', 'classifier.bias']);
  assert.deepEqual(loaded.unusedTensors, []);
  const norm = (m: LoadedModelGraph) => m.parameters().get('bert.encoder.layer.1.output.LayerNorm.weight')?.dataSync();
  assert.deepEqual(norm(loaded.model), norm(full));
  full.dispose();
  loaded.model.dispose();
});

test('coded errors: missing tensor (named), unknown architecture, bad config, unsupported task', async () => {
  const model = new Gpt2Model(tf, GPT2_CONFIG, random(1));
  const dir = newDir();
  await writeSafetensorsFile(
    join(dir, 'model.safetensors'),
    tensorsOf(model).filter((t) => t.name !== 'transformer.h.1.mlp.c_fc.bias'),
  );
  writeFileSync(join(dir, 'config.json'), JSON.stringify(GPT2_CONFIG));
  const before = tf.memory().numTensors;
  await assert.rejects(
    loadModel(tf, dir),
    (e: unknown) =>
      isCode('PEFTKIT_E_MODEL_MISSING_TENSOR')(e) && (e as Error).message.includes('transformer.h.1.mlp.c_fc.bias'),
  );
  assert.equal(tf.memory().numTensors, before, 'a failed load frees what it created');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...GPT2_CONFIG, model_type: 't5' }));
  await assert.rejects(
    loadModel(tf, dir),
    (e: unknown) => isCode('PEFTKIT_E_MODEL_ARCH')(e) && (e as Error).message.includes("'t5'"),
  );
  writeFileSync(join(dir, 'config.json'), '{ not json');
  await assert.rejects(loadModel(tf, dir), isCode('PEFTKIT_E_MODEL_CONFIG'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...GPT2_CONFIG, n_embd: 'big' }));
  await assert.rejects(loadModel(tf, dir), isCode('PEFTKIT_E_MODEL_CONFIG'));
  await assert.rejects(loadModel(tf, join(ROOT, 'does-not-exist')), isCode('PEFTKIT_E_MODEL_CONFIG'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...BERT_CONFIG }));
  await assert.rejects(loadModel(tf, dir, { task: 'causal-lm' }), isCode('PEFTKIT_E_MODEL_TASK'));
  model.dispose();
});

test('ARCHITECTURES takes new model types without touching loadModel; load/dispose leaks nothing', async () => {
  const llama = ARCHITECTURES.get('llama');
  assert.ok(llama !== undefined, 'llama is registered');
  ARCHITECTURES.set('my-llama', {
    ...llama,
    create: (t, config, weights, options) =>
      llama.create(t, { ...(config as object), model_type: 'llama' }, weights, options),
  });
  const original = createTinyLlama(tf);
  const dir = newDir();
  await saveModel(original, dir, { config: { ...TINY_LLAMA_CONFIG, model_type: 'my-llama' } });
  const before = tf.memory().numTensors;
  const loaded = await loadModel(tf, dir);
  assert.deepEqual(bits(loaded.model, { ids: IDS }), bits(original, { ids: IDS }));
  loaded.model.dispose();
  assert.equal(tf.memory().numTensors, before);
  ARCHITECTURES.delete('my-llama');
  original.dispose();
});

test('cleanup', () => rmSync(ROOT, { recursive: true, force: true }));
