// README.md's "Programmatic use", runnable with plain `node index.mjs` (also `deno run -A index.mjs`, `bun index.mjs`):
// a kernel, the embedded default model, a LoRA adapter trained a few dozen steps on support.jsonl, saved in PEFT's
// format, then one mixed batch (row 0 with the adapter, row 1 without). Prints `programmatic: ok` or exits 1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAdapterDir, writeAdapterDir } from '@peftkit/core';
import { train } from '@peftkit/core/train';
import { loadDataset } from '@peftkit/data';
import lora from '@peftkit/lora';
import { loadModel } from '@peftkit/models';
import { createKernel, DEFAULT_MODEL_DIR } from 'peftkit';

const runtime = globalThis.Deno ? 'deno' : globalThis.Bun ? 'bun' : 'node';
const dataFile = fileURLToPath(new URL('./support.jsonl', import.meta.url));
// removed at the end
const temp = process.argv[2] === undefined ? mkdtempSync(join(tmpdir(), 'peftkit-example-')) : undefined;
const out = process.argv[2] ?? join(temp, 'support'); // where the adapter goes

// backend: wasm (default), cpu, tensorflow
const kernel = await createKernel({ plugins: [lora], logger: { warn() {}, info() {} } });
const { model, tokenizer } = await loadModel(kernel.tf, DEFAULT_MODEL_DIR); // or any Hugging Face directory
if (!tokenizer) throw new Error(`no tokenizer in ${DEFAULT_MODEL_DIR}`);
const adapters = kernel.adapters(model);
adapters.create('support', 'lora', { r: 8, lora_alpha: 16, target_modules: 'all-linear' }, { seed: 1 });
const data = await loadDataset(dataFile, { tokenizer }, { maxLength: 64, evalFraction: 0 });
const result = await train({
  tf: kernel.tf,
  model,
  manager: adapters,
  adapter: 'support',
  trainData: data.train,
  evalData: data.eval,
  padId: 0,
  options: { steps: 30, batchSize: 2, lr: 5e-3 },
});
await writeAdapterDir(out, adapters.save('support')); // PEFT's adapter_config.json + adapter_model.safetensors

// A mixed batch: each row picks its adapter (or none); the base runs once for both rows.
const row = tokenizer.encode('Call me Ishmael. Some years ago', { bos: true });
const ids = [row, row];
const mixed = model.forward({ ids }, { selection: { perRow: ['support', null] } });
const base = model.forward({ ids });
const [m, b] = [await mixed.array(), await base.array()];
const maxDiff = (x, y) => {
  const [xs, ys] = [x.flat(), y.flat()]; // [seq, vocab] rows
  return xs.reduce((max, v, i) => Math.max(max, Math.abs(v - ys[i])), 0);
};
const adapted = maxDiff(m[0], b[0]); // row 0 ran the adapter: differs from the base
const plain = maxDiff(m[1], b[1]); // row 1 ran none: equals the base
mixed.dispose();
base.dispose();

const reloaded = await readAdapterDir(kernel.tf, out); // what was saved reads back
const [first, last] = [result.history[0].loss, result.history.at(-1).loss];
console.log(`${runtime}: ${result.step} steps, loss ${first.toFixed(3)} → ${last.toFixed(3)}, adapter in ${out}`);
console.log(
  `${runtime}: mixed batch: row 0 (support) differs from base by ${adapted.toExponential(2)}, ` +
    `row 1 (none) by ${plain.toExponential(2)}`,
);
const checks = {
  'trained 30 steps': result.step === 30,
  'loss went down': last < first,
  'saved adapter reads back': reloaded.config.peft_type === 'LORA' && Object.keys(reloaded.tensors).length > 0,
  'row 0 uses the adapter': adapted > 1e-4,
  'row 1 is the base model': plain <= 1e-5,
};
if (temp !== undefined) rmSync(temp, { recursive: true, force: true });
const failed = Object.entries(checks).filter(([, ok]) => !ok);
for (const [name] of failed) console.log(`check failed: ${name}`);
console.log(`programmatic: ${failed.length === 0 ? 'ok' : 'FAILED'} (${runtime})`);
if (failed.length > 0) process.exit(1);
