import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMain } from './support/cli-main.ts';
import { test } from 'node:test';
import { convertLlama2cFiles } from '../packages/models/src/convert/llama2c-files.ts';
import { mobyDickSentences } from './support/moby-dick.ts';
import { stories260KFiles } from './support/shared.ts';

// `peftkit train` end to end on the real stories260K with real text (Moby-Dick sentences), plus its usage errors.

const run = runMain;

const jsonl = (lines: string[]) => `${lines.map((text) => JSON.stringify({ text })).join('\n')}\n`;

test('peftkit train: lora and full on stories260K write adapter, checkpoints, metrics, curve and report', async () => {
  const { model: bin, tokenizer: tok } = stories260KFiles();
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-train-cli-'));
  try {
    const model = join(dir, 'model');
    await convertLlama2cFiles(bin, tok, model);
    await writeFile(join(dir, 'train.jsonl'), jsonl(mobyDickSentences(1, 24)));
    await writeFile(join(dir, 'eval.jsonl'), jsonl(mobyDickSentences(2, 8)));
    const out = join(dir, 'out');
    const base = [
      'train',
      '--model',
      model,
      '--data',
      join(dir, 'train.jsonl'),
      '--eval',
      join(dir, 'eval.jsonl'),
      '--out',
      out,
      '--steps',
      '4',
      '--batch',
      '4',
    ];
    const config = JSON.stringify({
      method: { r: 4, target_modules: ['q_proj', 'v_proj'] },
      training: { saveEvery: 2, evalEvery: 2 },
      data: { maxLength: 32 },
    });
    const lora = await run([...base, '--method', 'lora', '--lr', '0.01', '--config', config]);
    assert.equal(lora.code, 0, `exit 0: ${lora.err}`);
    assert.match(
      lora.err,
      /adapter: [\d,]+ trainable, 0 frozen parameters, [\d.]+ (B|KiB|MiB) resident/,
      'plugin stats in the summary',
    );
    const files = await readdir(out);
    for (const f of [
      'adapter_config.json',
      'adapter_model.safetensors',
      'metrics.jsonl',
      'loss.svg',
      'report.html',
      'checkpoint-2',
      'checkpoint-4',
    ]) {
      assert.ok(files.includes(f), `${f} in the output directory (got ${files})`);
    }
    const records = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step: number });
    assert.deepEqual(
      records.filter((r) => r.type === 'step').map((r) => r.step),
      [1, 2, 3, 4],
      'one step record per step',
    );
    assert.deepEqual(
      records.filter((r) => r.type === 'eval').map((r) => r.step),
      [0, 2, 4],
      'eval before training and every 2 steps',
    );
    assert.match(await readFile(join(out, 'loss.svg'), 'utf8'), /<svg/, 'the curve is an SVG');

    const again = await run([...base, '--method', 'lora']);
    assert.equal(again.code, 1, 'an existing output directory is refused');
    assert.match(again.err, /PEFTKIT_E_OUTPUT_EXISTS/, again.err);

    const resumed = await run([...base, '--method', 'lora', '--config', config, '--resume']);
    assert.equal(resumed.code, 0, `resume from the last checkpoint (already complete): ${resumed.err}`);

    const fullRun = await run([
      ...base,
      '--method',
      'full',
      '--lr',
      '0.001',
      '--overwrite',
      '--config',
      JSON.stringify({ data: { maxLength: 32 } }),
    ]);
    assert.equal(fullRun.code, 0, `full fine-tuning with --overwrite: ${fullRun.err}`);
    const after = await readdir(out);
    assert.ok(
      after.includes('model.safetensors') && after.includes('peftkit_full_config.json'),
      `full weights written (got ${after})`,
    );
    assert.ok(!after.includes('checkpoint-2'), '--overwrite cleared the old checkpoints');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('peftkit train: bad arguments exit 2 with PEFTKIT_E_USAGE', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-train-usage-'));
  try {
    const base = [
      'train',
      '--model',
      dir,
      '--method',
      'lora',
      '--data',
      join(dir, 'x.jsonl'),
      '--out',
      join(dir, 'out'),
    ];
    const cases: [string, string[]][] = [
      ['missing --method', ['train', '--model', dir, '--data', 'x', '--out', 'y']],
      ['missing --out', ['train', '--model', dir, '--method', 'lora', '--data', 'x']],
      ['bad --steps', [...base, '--steps', 'ten']],
      ['zero --batch', [...base, '--batch', '0']],
      ['negative --lr', [...base, '--lr', '-1']],
      ['unknown flag', [...base, '--frobnicate']],
      ['--resume with --overwrite', [...base, '--resume', '--overwrite']],
      ['--config not JSON', [...base, '--config', '{nope']],
      ['--config with an unknown section', [...base, '--config', '{"model":{}}']],
      ['unknown method', [...base.slice(0, 3), '--method', 'no-such-method', ...base.slice(5)]],
    ];
    for (const [label, args] of cases) {
      const r = await run(args);
      assert.equal(r.code, 2, `${label}: exit 2 (got ${r.code}: ${r.err})`);
      assert.match(r.err, /PEFTKIT_E_USAGE/, `${label}: ${r.err}`);
    }
    const help = await run(['train', '--help']);
    assert.equal(help.code, 0, 'train --help exits 0');
    assert.match(help.out, /--resume/, 'help lists --resume');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
