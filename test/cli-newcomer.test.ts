import { runMain } from './support/cli-main.ts';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createKernel } from 'peftkit';
import { saveModel } from '@peftkit/models';
import { createTinyLlama, TINY_LLAMA_CONFIG } from '@peftkit/testing';
import { DEFAULT_MODEL_DIR } from '../app/src/cli/cmd-start.ts';

// Newcomer paths through the CLI on the embedded default model (0.99 M parameters, so every run takes seconds):
// each test is one reported defect, named after what used to go wrong.

const root = await mkdtemp(join(tmpdir(), 'peftkit-newcomer-'));
after(() => rm(root, { recursive: true, force: true }));

const MODEL = DEFAULT_MODEL_DIR;
const SENTENCES = [
  'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse.',
  'It is a way I have of driving off the spleen and regulating the circulation.',
  'Whenever I find myself growing grim about the mouth, I account it high time to get to sea.',
  'There now is your insular city of the Manhattoes, belted round by wharves.',
];
const TEXT = join(root, 'text.jsonl');
const CHAT = join(root, 'chat.jsonl');
await writeFile(TEXT, `${SENTENCES.map((text) => JSON.stringify({ text })).join('\n')}\n`);
await writeFile(
  CHAT,
  `${SENTENCES.map((t) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: 'Say a line.' },
        { role: 'assistant', content: t },
      ],
    }),
  ).join('\n')}\n`,
);

const run = runMain;

const train = (out: string, ...extra: string[]) =>
  run(['train', '--model', MODEL, '--data', TEXT, '--out', out, '--steps', '2', '--batch', '2', ...extra]);

test('train: prompt tuning TEXT init works from the CLI (the tokenizer reaches the plugin)', async () => {
  const out = join(root, 'pt-text');
  const config = JSON.stringify({
    method: { prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'Call me Ishmael', num_virtual_tokens: 4 },
  });
  const r = await train(out, '--method', 'prompt-tuning', '--config', config);
  assert.equal(r.code, 0, `TEXT init trains: ${r.err}`);
  assert.doesNotMatch(r.err, /TOKENIZER_MISSING/, r.err);
});

test('train: invalid options leave --out untouched, so the corrected rerun is accepted', async () => {
  const out = join(root, 'bad-options');
  const bad = await train(out, '--method', 'lora', '--config', '{"training":{"lr":"fast"}}');
  assert.notEqual(bad.code, 0, 'bad lr refused');
  assert.match(bad.err, /lr/, `names the option: ${bad.err}`);
  assert.equal(existsSync(out) ? (await readdir(out)).length : 0, 0, '--out holds nothing after the refused run');
  const good = await train(out, '--method', 'lora', '--config', '{"training":{"lr":0.001}}');
  assert.equal(good.code, 0, `the corrected rerun is not refused: ${good.err}`);
});

test('train: --config file with invalid JSON names the file', async () => {
  const file = join(root, 'bad.json');
  await writeFile(file, '{"training": {');
  const r = await train(join(root, 'bad-json'), '--method', 'lora', '--config', file);
  assert.equal(r.code, 2, 'usage error');
  assert.ok(r.err.includes(file), `the error names ${file}: ${r.err}`);
});

test('train: saved adapters name their base model (PEFT base_model_name_or_path, AdapterHub model_name)', async () => {
  const lora = join(root, 'named-lora');
  assert.equal((await train(lora, '--method', 'lora')).code, 0, 'lora trained');
  const config = JSON.parse(await readFile(join(lora, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.base_model_name_or_path, MODEL, 'base_model_name_or_path is the model directory');
  const bottleneck = join(root, 'named-bottleneck');
  assert.equal((await train(bottleneck, '--method', 'bottleneck')).code, 0, 'bottleneck trained');
  const hub = JSON.parse(await readFile(join(bottleneck, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(hub.model_name, MODEL, 'AdapterHub model_name is the model directory');
});

test('train: chat JSONL on the embedded model with --chat-template; without one the error says how', async () => {
  const without = await run([
    'train',
    '--model',
    MODEL,
    '--data',
    CHAT,
    '--out',
    join(root, 'chat-none'),
    '--method',
    'lora',
    '--steps',
    '1',
  ]);
  assert.notEqual(without.code, 0, 'no template: refused');
  assert.match(without.err, /--chat-template/, `the error names the option: ${without.err}`);
  for (const template of ['plain', 'chatml']) {
    const r = await run([
      'train',
      '--model',
      MODEL,
      '--data',
      CHAT,
      '--out',
      join(root, `chat-${template}`),
      '--method',
      'lora',
      '--steps',
      '1',
      '--chat-template',
      template,
    ]);
    assert.equal(r.code, 0, `--chat-template ${template}: ${r.err}`);
  }
  const jinja = join(root, 'tpl.jinja');
  await writeFile(jinja, "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}");
  const file = await run([
    'train',
    '--model',
    MODEL,
    '--data',
    CHAT,
    '--out',
    join(root, 'chat-file'),
    '--method',
    'lora',
    '--steps',
    '1',
    '--chat-template',
    jinja,
  ]);
  assert.equal(file.code, 0, `--chat-template <file>: ${file.err}`);
});

test('train --method full writes a model directory that generate and inspect use; merge says what to do', async () => {
  const out = join(root, 'full');
  const r = await train(out, '--method', 'full');
  assert.equal(r.code, 0, r.err);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json'])
    assert.ok(existsSync(join(out, f)), `${f} written`);
  const g = await run(['generate', '--model', out, '--prompt', 'Call me', '--max-tokens', '4', '--temperature', '0']);
  assert.equal(g.code, 0, `generate --model <full out>: ${g.err}`);
  assert.ok(g.out.trim().length > 0, 'generated text');
  const i = await run(['inspect', out]);
  assert.equal(i.code, 0, `inspect: ${i.err}`);
  assert.match(i.out, /method full/, `inspect names full fine-tuning: ${i.out}`);
  const m = await run(['merge', '--model', MODEL, '--adapter', out, '--out', join(root, 'full-merged')]);
  assert.notEqual(m.code, 0, 'merge refuses a model as adapter');
  assert.match(m.err, /model directory.*--model/, `merge says to use it as --model: ${m.err}`);
});

test('convert bnb --to nf4: train --method qlora and generate use the directory', async () => {
  const nf4 = join(root, 'nf4');
  const c = await run(['convert', 'bnb', '--to', 'nf4', MODEL, '--out', nf4]);
  assert.equal(c.code, 0, c.err);
  const q = await run([
    'train',
    '--model',
    nf4,
    '--data',
    TEXT,
    '--out',
    join(root, 'qlora'),
    '--steps',
    '2',
    '--batch',
    '2',
    '--method',
    'qlora',
  ]);
  assert.equal(q.code, 0, `qlora on the nf4 directory: ${q.err}`);
  const g = await run([
    'generate',
    '--model',
    nf4,
    '--adapter',
    join(root, 'qlora'),
    '--prompt',
    'Call me',
    '--max-tokens',
    '3',
    '--temperature',
    '0',
  ]);
  assert.equal(g.code, 0, `generate on the nf4 directory: ${g.err}`);
});

test(
  'a text file named adapter_model.safetensors: the error says it is not safetensors and names the ' + 'file',
  async () => {
    const dir = join(root, 'text-adapter');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'adapter_config.json'),
      JSON.stringify({ peft_type: 'LORA', r: 8, target_modules: ['q_proj'] }),
    );
    await writeFile(
      join(dir, 'adapter_model.safetensors'),
      'version https://git-lfs.github.com/spec/v1\noid sha256:abc\n',
    );
    const g = await run(['generate', '--model', MODEL, '--adapter', dir, '--prompt', 'x', '--max-tokens', '1']);
    assert.notEqual(g.code, 0, 'refused');
    assert.match(g.err, /not a safetensors file/, g.err);
    assert.ok(g.err.includes(join(dir, 'adapter_model.safetensors')), `names the file: ${g.err}`);
    const m = await run(['merge', '--model', MODEL, '--adapter', dir, '--out', join(root, 'text-merged')]);
    assert.ok(m.err.includes(join(dir, 'adapter_model.safetensors')), `merge names the file: ${m.err}`);
  },
);

test('inspect <adapter> --model <another base> warns that the adapter does not fit', async () => {
  const kernel = await createKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
  const tiny = createTinyLlama(kernel.tf, { seed: 7 });
  const other = join(root, 'tiny-base');
  await saveModel(tiny, other, { config: { ...TINY_LLAMA_CONFIG } });
  tiny.dispose();
  await kernel.dispose();
  const adapter = join(root, 'fit-lora');
  assert.equal((await train(adapter, '--method', 'lora')).code, 0, 'adapter trained on the embedded model');
  const r = await run(['inspect', adapter, '--model', other]);
  assert.match(r.err, /warning: the adapter does not fit/, `warns: ${r.err}`);
  const json = await run(['inspect', adapter, '--model', other, '--json']);
  const info = JSON.parse(json.out) as { warnings?: string[]; trainablePercent: number | null };
  assert.ok((info.warnings ?? []).length > 0, '--json lists the warnings');
  assert.equal(info.trainablePercent, null, 'no percentage of a base the adapter does not fit');
  const same = await run(['inspect', adapter, '--model', MODEL]);
  assert.doesNotMatch(same.err, /warning/, `no warning on its own base: ${same.err}`);
});
