import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createKernel } from 'peftkit';
import { evaluate, type TrainExample, train } from '@peftkit/core/train';
import lora from '@peftkit/lora';
import { generate } from '../packages/models/src/generate/generate.ts';
import { loadStories260K } from './support/learning.ts';
import { mobyDickSentences } from './support/moby-dick.ts';

// LoRA r=8 on q,v of the real stories260K: training on Moby-Dick lowers held-out loss; the saved adapter reloaded in
// a fresh process gives identical logits; `peftkit generate --adapter` (another process) writes what the in-process
// model with the adapter writes. Child processes run on Node (with tsx) whichever runtime runs this file.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const kernel = await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } });
kernel.use(lora);
const tf = kernel.tf;

function node(args: string[]): string {
  const r = spawnSync('node', args, {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
    env: { ...process.env, PEFTKIT_BACKEND: 'wasm' },
  });
  assert.equal(r.status, 0, `node ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

test(
  'stories260K LoRA (q,v): learns, reloads bit-identically in a fresh process, ' +
    'and drives peftkit generate --adapter',
  async (t) => {
    const loaded = await loadStories260K(t, tf);
    if (!loaded) return;
    const { model, tokenizer, dir } = loaded;
    try {
      assert.ok(tokenizer, 'tokenizer');
      const examples = (chapter: number, n: number): TrainExample[] =>
        mobyDickSentences(chapter, n).map((s) => ({ ids: tokenizer.encode(s, { bos: true }).slice(0, 40) }));
      const trainData = examples(1, 64);
      const evalData = examples(2, 16);
      const manager = kernel.adapters(model);
      manager.create('qv', 'lora', { r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] });
      const before = evaluate(tf, model, evalData, { padId: 0, batchSize: 16 }).loss;
      const outDir = join(dir, 'qv-adapter');
      const result = await train({
        tf,
        model,
        manager,
        adapter: 'qv',
        trainData,
        evalData,
        padId: 0,
        outDir,
        options: { steps: 24, batchSize: 8, lr: 1e-2, warmupSteps: 2, seed: 3 },
      });
      const after = result.evals.at(-1)?.loss ?? Number.NaN;
      console.log(`[stories260K LoRA q,v r=8] held-out loss ${before.toFixed(4)} → ${after.toFixed(4)}`);
      assert.ok(after < before - 0.05, `held-out loss drops: ${before} → ${after}`);

      const ids = [
        tokenizer.encode('Call me Ishmael. Some years ago', { bos: true }),
        tokenizer.encode('The whale was white and the sea', { bos: true }),
      ];
      const width = Math.min(...ids.map((r) => r.length));
      const batch = ids.map((r) => r.slice(0, width));
      const here = tf.tidy(() =>
        Array.from(model.forward?.({ ids: batch }, { selection: { active: ['qv'] } }).dataSync() ?? []),
      );
      const there = JSON.parse(
        node([
          '--conditions=peftkit:source',
          '--import',
          'tsx',
          'test/support/adapter-logits.ts',
          dir,
          outDir,
          JSON.stringify(batch),
        ]),
      ) as number[];
      assert.equal(there.length, here.length, 'same logits shape');
      assert.deepEqual(there, here, 'the adapter reloaded in a fresh process gives identical logits');

      const prompt = 'Once upon a time';
      const [mine] = generate(model as Parameters<typeof generate>[0], tokenizer, [{ prompt, adapter: 'qv' }], {
        maxTokens: 24,
        temperature: 0,
      });
      const [base] = generate(model as Parameters<typeof generate>[0], tokenizer, [{ prompt }], {
        maxTokens: 24,
        temperature: 0,
      });
      const cli = node([
        'app/bin/peftkit.mjs',
        'generate',
        '--model',
        dir,
        '--adapter',
        outDir,
        '--prompt',
        prompt,
        '--max-tokens',
        '24',
        '--temperature',
        '0',
      ]);
      assert.equal(cli.trimEnd(), mine?.text.trimEnd(), 'peftkit generate --adapter writes the adapted model’s text');
      assert.notEqual(mine?.text, base?.text, 'the trained adapter changes the greedy text (the check can fail)');
      manager.dispose();
    } finally {
      await loaded.cleanup();
    }
  },
);
