import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { type AdapterSelection, disposeSaved, writeAdapterDir } from '@peftkit/core';
import { train } from '@peftkit/core/train';
import { type LlamaModel, loadModel } from '@peftkit/models';
import { conformanceSuite, perturb } from '@peftkit/testing';
import { createKernel } from 'peftkit';

// A second third-party package (PEFT's LN_TUNING) on the norm sites: it imports only @peftkit/core.
const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const plugin = await kernel.import('peftkit-plugin-ln-tuning-fixture');
const tf = kernel.tf;
const MOBY = fileURLToPath(new URL('../app/assets/peftkit-moby', import.meta.url));

async function moby() {
  const loaded = await loadModel(tf, MOBY);
  const tokenizer = loaded.tokenizer;
  assert.ok(tokenizer, 'the embedded model ships a tokenizer');
  const model = loaded.model as LlamaModel;
  return { model, tokenizer, manager: kernel.adapters(model) };
}

/** Logits rows as flat arrays. */
function logits(model: LlamaModel, ids: number[][], selection?: AdapterSelection): Float32Array[] {
  const out = model.forward({ ids }, selection ? { selection } : {});
  const rows = (out.arraySync() as number[][][]).map((row) => Float32Array.from(row.flat()));
  out.dispose();
  return rows;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

test('kernel.import loads the LN_TUNING package and validates its default export', () => {
  assert.equal(plugin.meta.name, 'ln-tuning');
  assert.equal(plugin.meta.peftType, 'LN_TUNING');
  assert.equal(kernel.registry.get('ln-tuning'), plugin);
});

conformanceSuite({
  plugin,
  config: { peft_type: 'LN_TUNING', target_modules: ['input_layernorm', 'norm'] },
  secondConfig: { target_modules: ['post_attention_layernorm'] },
});

test('LN tuning trains on the embedded model: loss falls, the base stays frozen', async () => {
  const { model, tokenizer, manager } = await moby();
  manager.create('ln', 'ln-tuning', {}, { seed: 1 });
  const baseBefore = [...model.parameters().values()].map((v) => v.dataSync().slice());
  const lines = [
    'Call me Ishmael.',
    'The whale is white.',
    'Some years ago, never mind how long.',
    'The sea is wide and deep.',
  ];
  const trainData = lines.map((text) => ({ ids: tokenizer.encode(text, { bos: true }) }));
  const result = await train({
    tf,
    model,
    manager,
    adapter: 'ln',
    trainData,
    padId: 0,
    options: { steps: 8, batchSize: 4, lr: 3e-2, schedule: 'constant', shuffle: false, weightDecay: 0 },
  });
  const losses = result.history.map((e) => e.loss);
  assert.ok((losses.at(-1) as number) < (losses[0] as number) - 0.02, `loss falls: ${losses}`);
  const baseAfter = [...model.parameters().values()].map((v) => v.dataSync());
  assert.ok(
    baseBefore.every((before, i) => maxAbsDiff(before as Float32Array, baseAfter[i] as Float32Array) === 0),
    'base weights untouched',
  );
  manager.dispose();
  model.dispose();
});

test('save writes exactly PEFT LN_TUNING keys and adapter_config.json', async () => {
  const { model, manager } = await moby();
  manager.create('ln', 'ln-tuning', { base_model_name_or_path: 'peftkit-moby' });
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-ln-'));
  try {
    const saved = manager.save('ln');
    await writeAdapterDir(dir, saved);
    disposeSaved(saved);
    const bytes = await readFile(join(dir, 'adapter_model.safetensors'));
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
      string,
      { shape: number[] }
    >;
    const keys = Object.keys(header).filter((k) => k !== '__metadata__');
    const expected = ['model.norm'];
    for (let i = 0; i < model.dims.numLayers; i++)
      expected.push(`model.layers.${i}.input_layernorm`, `model.layers.${i}.post_attention_layernorm`);
    assert.deepEqual(keys.sort(), expected.map((m) => `base_model.model.${m}.ln_tuning_layers.weight`).sort());
    for (const k of keys) assert.deepEqual(header[k]?.shape, [model.dims.hiddenSize]);
    const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.peft_type, 'LN_TUNING');
    assert.equal(config.task_type, 'CAUSAL_LM');
    assert.equal(config.base_model_name_or_path, 'peftkit-moby');
    assert.deepEqual(config.target_modules, ['input_layernorm', 'norm', 'post_attention_layernorm']);
  } finally {
    await rm(dir, { recursive: true, force: true });
    manager.dispose();
    model.dispose();
  }
});

test('a mixed batch of two LN adapters equals each adapter alone on its row', async () => {
  const { model, tokenizer, manager } = await moby();
  const a = manager.create('a', 'ln-tuning', {}, { seed: 1 });
  const b = manager.create('b', 'ln-tuning', { target_modules: ['post_attention_layernorm'] }, { seed: 2 });
  perturb(tf, a.handle.trainableVariables, 3, 0.3);
  perturb(tf, b.handle.trainableVariables, 4, 0.3);
  const row = tokenizer.encode('Call me Ishmael, said the', { bos: true });
  const other = tokenizer.encode('The whale was white and ', { bos: true });
  const width = Math.min(row.length, other.length);
  const ids = [row.slice(0, width), other.slice(0, width), row.slice(0, width)];
  const base = logits(model, ids);
  const alone = { a: logits(model, ids, { active: ['a'] }), b: logits(model, ids, { active: ['b'] }) };
  const mixed = logits(model, ids, { perRow: ['a', 'b', null] });
  assert.ok(maxAbsDiff(alone.a[0] as Float32Array, base[0] as Float32Array) > 1e-3, 'adapter a changes its row');
  assert.ok(maxAbsDiff(alone.b[1] as Float32Array, base[1] as Float32Array) > 1e-3, 'adapter b changes its row');
  assert.ok(maxAbsDiff(mixed[0] as Float32Array, alone.a[0] as Float32Array) <= 1e-5, 'row 0 runs adapter a');
  assert.ok(maxAbsDiff(mixed[1] as Float32Array, alone.b[1] as Float32Array) <= 1e-5, 'row 1 runs adapter b');
  assert.ok(maxAbsDiff(mixed[2] as Float32Array, base[2] as Float32Array) <= 1e-5, 'row 2 runs the base');
  manager.dispose();
  model.dispose();
});
