import { runMain } from './support/cli-main.ts';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeAdapterDir } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { saveModel } from '@peftkit/models';
import { createTinyLlama, logits, maxAbsDiff, perturb, TINY_LLAMA_CONFIG, tinyBatch } from '@peftkit/testing';
import lora from '@peftkit/lora';
import { loadModel } from '../packages/models/src/model/load.ts';

// `peftkit inspect` and `peftkit merge` on a tiny random Llama with a perturbed (non-identity) LoRA adapter.

const kernel = await createKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
kernel.use(lora);
const tf = kernel.tf;
const root = await mkdtemp(join(tmpdir(), 'peftkit-merge-'));
after(() => rm(root, { recursive: true, force: true }));

const run = runMain;

/** A base model dir and a LoRA adapter dir (q/v, r 4) whose B matrices are non-zero. */
async function fixture(name: string) {
  const modelDir = join(root, `${name}-model`);
  const adapterDir = join(root, `${name}-adapter`);
  const model = createTinyLlama(tf, { seed: 7 });
  await saveModel(model, modelDir, { config: { ...TINY_LLAMA_CONFIG } });
  const manager = kernel.adapters(model);
  const record = manager.create('a', 'lora', {
    target_modules: ['q_proj', 'v_proj', 'down_proj'],
    r: 4,
    lora_alpha: 8,
  });
  perturb(tf, record.handle.trainableVariables, 3, 0.3);
  const saved = manager.save('a');
  await writeAdapterDir(adapterDir, saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  const ids = tinyBatch(2, 6);
  const withAdapter = logits(model, ids, { active: ['a'] });
  const base = logits(model, ids);
  manager.dispose();
  model.dispose();
  return { modelDir, adapterDir, ids, withAdapter, base };
}

test('merge writes a plain model directory whose logits equal base + adapter', async () => {
  const f = await fixture('m');
  const out = join(root, 'merged');
  const before = tf.memory().numTensors;
  const r = await run(['merge', '--model', f.modelDir, '--adapter', f.adapterDir, '--out', out, '--backend', 'cpu']);
  assert.equal(r.code, 0, `merge failed: ${r.err}`);
  assert.match(r.err, /merged .* \(lora 0\.1\.0\)/, 'names the plugin that merged');
  assert.deepEqual((await readdir(out)).sort(), ['config.json', 'model.safetensors'], 'plain HF directory');
  const merged = await loadModel(tf, out);
  const mergedLogits = logits(merged.model as Parameters<typeof logits>[0], f.ids);
  merged.model.dispose();
  assert.ok(
    maxAbsDiff(mergedLogits, f.withAdapter) < 1e-4,
    `merged vs adapter: ${maxAbsDiff(mergedLogits, f.withAdapter)}`,
  );
  assert.ok(maxAbsDiff(mergedLogits, f.base) > 1e-3, 'the adapter changed the outputs (test can fail)');
  assert.equal(tf.memory().numTensors, before, 'merge frees every tensor it created');

  const again = await run(['merge', '--model', f.modelDir, '--adapter', f.adapterDir, '--out', out]);
  assert.equal(again.code, 1, 'existing output refused');
  assert.match(again.err, /PEFTKIT_E_OUTPUT_EXISTS|exists and is not empty/, again.err);
  assert.equal(
    (await run(['merge', '--model', f.modelDir, '--adapter', f.adapterDir, '--out', out, '--overwrite'])).code,
    0,
    '--overwrite replaces',
  );
});

test('inspect describes models and adapters (text and --json)', async () => {
  const f = await fixture('i');
  const m = await run(['inspect', f.modelDir, '--json']);
  assert.equal(m.code, 0, m.err);
  const model = JSON.parse(m.out) as Record<string, unknown>;
  const c = TINY_LLAMA_CONFIG;
  const d = c.hidden_size;
  const kv = (d / c.num_attention_heads) * c.num_key_value_heads;
  const perLayer = d * d * 2 + d * kv * 2 + 3 * d * c.intermediate_size + 2 * d;
  const expected = c.vocab_size * d * 2 + c.num_hidden_layers * perLayer + d;
  assert.equal(model.parameters, expected, 'parameter count from the architecture');
  assert.equal(model.modelType, 'llama', 'model type');
  assert.equal(model.bytes, expected * 4, 'float32 bytes');

  const a = await run(['inspect', f.adapterDir, '--model', f.modelDir, '--json']);
  assert.equal(a.code, 0, a.err);
  const adapter = JSON.parse(a.out) as Record<string, unknown>;
  const loraParams = c.num_hidden_layers * (4 * (d + d) + 4 * (d + kv) + 4 * (c.intermediate_size + d));
  assert.equal(adapter.method, 'lora', 'plugin recognised');
  assert.equal(adapter.peftType, 'LORA', 'peft type');
  assert.equal(adapter.parameters, loraParams, 'A and B matrices of q, v and down_proj');
  assert.ok(Math.abs((adapter.trainablePercent as number) - (100 * loraParams) / expected) < 1e-9, 'trainable share');

  const text = await run(['inspect', f.adapterDir, '--model', f.modelDir]);
  assert.match(text.out, /method\s+lora 0\.1\.0/, text.out);
  assert.match(text.out, /trainable\s+\d+\.\d+% of/, text.out);
});

test('inspect and merge reject bad arguments with usage errors', async () => {
  const empty = join(root, 'empty');
  await writeFile(join(root, 'not-json.txt'), 'x');
  const cases: [string[], number, RegExp][] = [
    [['inspect'], 2, /expected exactly one <dir>/],
    [['inspect', 'a', 'b'], 2, /expected exactly one <dir>/],
    [['inspect', root], 1, /neither adapter_config\.json nor config\.json/],
    [['inspect', '--bogus', empty], 2, /Unknown option '--bogus'/],
    [['merge', '--out', empty], 2, /--model is required/],
    [['merge', '--model', 'x', '--out', empty], 2, /--adapter is required/],
    [['merge', '--model', 'x', '--adapter', 'y'], 2, /--out is required/],
    [['merge', '--model', 'x', '--adapter', 'y', '--out', 'x'], 2, /--out must differ from --model/],
  ];
  for (const [args, code, pattern] of cases) {
    const r = await run(args);
    assert.equal(r.code, code, `${args.join(' ')} → exit ${r.code}: ${r.err}`);
    assert.match(r.err, pattern, `${args.join(' ')}: ${r.err}`);
  }
  for (const name of ['inspect', 'merge']) {
    const h = await run([name, '--help']);
    assert.equal(h.code, 0, `${name} --help`);
    assert.match(h.out, /^Usage: peftkit /, `${name} usage`);
  }
});
