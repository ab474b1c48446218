// A user's script, copied by scripts/outside-check.mjs into a fresh npm project that installed peftkit's tarballs, and
// run there with plain `node` (no loader), `deno run -A` and `bun`: LoRA on the embedded model for a few steps, save,
// reload into a fresh kernel and a fresh model, and the greedy continuation must be the same. Prints `roundtrip: ok`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAdapterDir, writeAdapterDir } from '@peftkit/core';
import { train } from '@peftkit/core/train';
import lora from '@peftkit/lora';
import { generate, loadModel } from '@peftkit/models';
import { createKernel, DEFAULT_MODEL_DIR } from 'peftkit';

const runtime = globalThis.Deno ? 'deno' : globalThis.Bun ? 'bun' : 'node';
const quiet = { warn() {}, info() {} };
const greedy = { maxTokens: 12, temperature: 0 };
const prompt = 'Call me Ishmael. Some years ago';
const sentences = [
  'Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about a little.',
  'The whale rose slowly from the grey sea, and the men in the boats fell silent.',
  'Queequeg sat by the fire, polishing his harpoon and saying nothing at all.',
  'Captain Ahab stood upon the quarter-deck and looked out over the endless water.',
];

async function fresh() {
  const kernel = await createKernel({ plugins: [lora], logger: quiet });
  const { model, tokenizer } = await loadModel(kernel.tf, DEFAULT_MODEL_DIR);
  if (tokenizer === undefined) throw new Error(`no tokenizer in ${DEFAULT_MODEL_DIR}`);
  return { kernel, model, tokenizer, adapters: kernel.adapters(model) };
}

const dir = mkdtempSync(join(tmpdir(), 'peftkit-roundtrip-'));
try {
  const a = await fresh();
  a.adapters.create('moby', 'lora', { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] }, { seed: 1 });
  const trainData = sentences.map((s) => ({ ids: a.tokenizer.encode(s) }));
  const result = await train({
    tf: a.kernel.tf,
    model: a.model,
    manager: a.adapters,
    adapter: 'moby',
    trainData,
    padId: 0,
    options: { steps: 4, batchSize: 2, lr: 1e-2 },
  });
  const losses = result.history.map((e) => e.loss.toFixed(3));
  const base = generate(a.model, a.tokenizer, [{ prompt }], greedy)[0];
  const trained = generate(a.model, a.tokenizer, [{ prompt, adapter: 'moby' }], greedy)[0];
  await writeAdapterDir(dir, a.adapters.save('moby'));

  const b = await fresh();
  b.adapters.load('moby', await readAdapterDir(b.kernel.tf, dir));
  const reloaded = generate(b.model, b.tokenizer, [{ prompt, adapter: 'moby' }], greedy)[0];

  console.log(`${runtime}: backend ${a.kernel.backend}, losses ${losses.join(' → ')}`);
  console.log(`${runtime}: base     ${JSON.stringify(base.text)}`);
  console.log(`${runtime}: trained  ${JSON.stringify(trained.text)}`);
  console.log(`${runtime}: reloaded ${JSON.stringify(reloaded.text)}`);
  const same = trained.text === reloaded.text && trained.ids.join(',') === reloaded.ids.join(',');
  const ok = same && result.step === 4 && trained.ids.length > 0;
  console.log(`roundtrip: ${ok ? 'ok' : 'MISMATCH'} (${runtime}, ${trained.ids.length} tokens, ${result.step} steps)`);
  if (!ok) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
