import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMMANDS, main } from '../app/src/cli/main.ts';
import { stories260KFiles } from './support/shared.ts';

const EXPECTED = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, {
    out: (t, nl = true) => {
      out += nl
        ? `${t}
`
        : t;
    },
    err: (t) => {
      err += `${t}
`;
    },
  });
  return { code, out, err };
}

test('peftkit with no command prints help and exits 2; --help exits 0; unknown commands exit 2', async () => {
  assert.equal((await run([])).code, 2);
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  for (const { name } of COMMANDS) assert.match(help.out, new RegExp(`\\b${name}\\b`), `help lists ${name}`);
  const unknown = await run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command 'frobnicate'/);
});

test('every command has --help', async () => {
  assert.deepEqual(
    COMMANDS.map((c) => c.name).sort(),
    [
      'bench',
      'convert',
      'doctor',
      'download',
      'generate',
      'inspect',
      'jobs',
      'merge',
      'plugins',
      'serve',
      'start',
      'train',
      'worker',
    ],
    'the CLI of issue #8, plus jobs and worker (issue 17)',
  );
  for (const { name } of COMMANDS) {
    const r = await run([name, '--help']);
    assert.equal(r.code, 0, name);
    assert.match(r.out, /^Usage: peftkit /, name);
  }
});

test('bad arguments give usage errors (exit 2) with clear messages', async () => {
  const cases: [string[], RegExp][] = [
    [['convert'], /unknown format ''/],
    [['convert', 'gguf', 'x'], /unknown format 'gguf'/],
    [['convert', 'llama2c'], /missing <model\.bin>/],
    [['convert', 'llama2c', 'm.bin', '--out', 'x'], /--tokenizer is required/],
    [['convert', 'llama2c', 'm.bin', '--bogus'], /Unknown option '--bogus'/],
    [['generate'], /--model is required/],
    [['generate', '--model', 'x', '--max-tokens', 'many'], /--max-tokens must be an integer ≥ 0, got 'many'/],
    [['generate', '--model', 'x', '--temperature=-1'], /--temperature must be a number ≥ 0/],
    [['generate', '--model', 'x', '--top-p', '0'], /--top-p must be a number in \(0, 1\]/],
    [['bench', 'nope'], /unknown benchmark 'nope'/],
    [['plugins', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, pattern] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, pattern, args.join(' '));
  }
});

test('plugins names a third-party plugin that cannot be imported (exit 1, coded error)', async () => {
  const r = await run(['plugins', '--plugin', './no/such/plugin.ts']);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /PEFTKIT_E_PLUGIN_IMPORT: cannot import plugin '\.\/no\/such\/plugin\.ts'/, r.err);
});

test('plugins lists installed method plugins and third-party ones given with --plugin', async () => {
  const r = await run(['plugins', '--plugin', 'peftkit-plugin-ia3-fixture']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /plugin API 1\.0\.0/);
  assert.match(r.out, /^ia3\s+0\.1\.0\s+reparam\s+\^1\.0\.0/m);
  const json = await run(['plugins', '--json']);
  const parsed = JSON.parse(json.out) as { plugins: { name: string }[] };
  assert.ok(Array.isArray(parsed.plugins));
});

test('convert llama2c + generate: prints only the generated story; refuses a non-empty output directory', async () => {
  const { model, tokenizer: tok } = stories260KFiles();
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-cli-'));
  try {
    const out = join(dir, 'hf');
    const converted = await run(['convert', 'llama2c', model, '--tokenizer', tok, '--out', out]);
    assert.equal(converted.code, 0, converted.err);
    assert.equal(converted.out, '', 'convert reports on stderr only');
    const again = await run(['convert', 'llama2c', model, '--tokenizer', tok, '--out', out]);
    assert.equal(again.code, 1);
    assert.match(again.err, /PEFTKIT_E_OUTPUT_EXISTS/);
    const generated = await run(['generate', '--model', out, '--max-tokens', '120', '--temperature', '0']);
    assert.equal(generated.code, 0, generated.err);
    assert.ok(generated.out.startsWith(EXPECTED), generated.out);
    const missing = await run(['generate', '--model', join(dir, 'nothing-here')]);
    assert.equal(missing.code, 1);
    await writeFile(join(dir, 'bad.bin'), new Uint8Array(10));
    const bad = await run(['convert', 'llama2c', join(dir, 'bad.bin'), '--tokenizer', tok, '--out', join(dir, 'o2')]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /PEFTKIT_E_LLAMA2C_CHECKPOINT_SIZE/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
