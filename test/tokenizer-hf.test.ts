import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { isPeftkitError } from '../packages/io/src/errors.ts';
import { HfTokenizer } from '../packages/models/src/tokenizers/hf.ts';
import { Llama2cTokenizer, type Llama2cVocab } from '../packages/models/src/tokenizers/llama2c.ts';
import { loadTokenizer } from '../packages/models/src/tokenizers/load.ts';
import { fixturePath } from './support/shared.ts';

const TOK512 = 'stories260K/tok512.bin';

function syntheticVocab(pieces: string[]): Llama2cVocab {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const all = ['<unk>', '\n<s>\n', '\n</s>\n', ...bytes, ...pieces];
  const scores = Float32Array.from(all, (_, id) => (id < 259 ? 0 : -(id - 259)));
  return { maxTokenLength: 16, pieces: all, scores };
}

const SMALL = syntheticVocab([
  ' h',
  'll',
  'he',
  ' he',
  'llo',
  ' hello',
  ' w',
  'or',
  ' wor',
  'ld',
  ' world',
  ' ',
  'h',
  'e',
  'l',
  'o',
  'w',
  'r',
  'd',
]);

function hfTwin(tok: Llama2cTokenizer): HfTokenizer {
  // Through JSON text, as a file would carry it.
  return new HfTokenizer(JSON.parse(JSON.stringify(tok.toHfTokenizerJson())), tok.toHfTokenizerConfig());
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => isPeftkitError(error, code));
}

function randomTexts(seed: number, alphabet: string[], count: number, maxLength: number): string[] {
  let state = seed;
  const next = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: next(maxLength) }, () => alphabet[next(alphabet.length)]).join(''),
  );
}

test('tokenizer.json export: shape of the Hugging Face file', () => {
  const json = new Llama2cTokenizer(SMALL).toHfTokenizerJson();
  assert.equal(json.model.type, 'BPE');
  assert.equal(json.model.byte_fallback, true);
  assert.deepEqual(
    json.added_tokens.map((t) => [t.id, t.content, t.special]),
    [
      [0, '<unk>', true],
      [1, '<s>', true],
      [2, '</s>', true],
    ],
  );
  assert.equal(json.model.vocab['▁hello'], SMALL.pieces.indexOf(' hello'));
  assert.equal(json.model.vocab['<0x0A>'], 13);
  // Highest score first; every split of a token into two vocab tokens is a merge (' he' = ' h'+'e' = ' '+'he').
  assert.deepEqual(json.model.merges.slice(0, 3), [
    ['▁', 'h'],
    ['l', 'l'],
    ['h', 'e'],
  ]);
  assert.ok(json.model.merges.some(([a, b]) => a === '▁' && b === 'he'));
});

test('tokenizer.json export: @huggingface/tokenizers encodes like llama2.c (synthetic vocab)', () => {
  const tok = new Llama2cTokenizer(SMALL);
  const hf = hfTwin(tok);
  assert.deepEqual([hf.vocabSize, hf.bosId, hf.eosId, hf.unkId, hf.padId], [tok.vocabSize, 1, 2, 0, undefined]);
  for (const text of [
    'hello world',
    'hello  world ',
    '\nhello',
    'héllo wörld 😀',
    ...randomTexts(3, [...'helowrd ', 'll', 'ß'], 200, 30),
  ]) {
    assert.deepEqual(hf.encode(text, { bos: false }), tok.encode(text), JSON.stringify(text));
    assert.equal(
      hf.decode(tok.encode(text, { bos: true })),
      tok.decode(tok.encode(text, { bos: true })),
      JSON.stringify(text),
    );
  }
});

test('tokenizer.json export: tok512.bin, identical ids on a test set and random text', () => {
  const path = fixturePath(TOK512);
  const tok = Llama2cTokenizer.fromBytes(readFileSync(path));
  const hf = hfTwin(tok);
  const samples = [
    'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.',
    '',
    ' ',
    '   leading and trailing   ',
    'tabs\tand\nnew\r\nlines\n\n',
    'digits 0123456789, 3.14159 and 1,000,000',
    'unicode: café, naïve, Ελληνικά, 日本語, ß',
    'emoji 😀👍🏽 and a flag 🇫🇷',
    'symbols <>[]{}|\\~`^%$#@! "quoted" — dash… ™',
  ];
  const alphabet = [...'abcdefghijklmnopqrstuvwxyz ABCDLOT,.!?\'"\n\t0123456789éü€😀', ' the', ' was', 'ing', '  '];
  for (const text of [...samples, ...randomTexts(11, alphabet, 300, 60)]) {
    const ids = tok.encode(text, { bos: true });
    // Default BOS comes from tokenizer_config.json's add_bos_token (true for the export).
    assert.deepEqual(hf.encode(text), ids, JSON.stringify(text));
    assert.equal(hf.decode(ids), text, JSON.stringify(text));
  }
});

test('tokenizer.json export: documented differences from llama2.c', () => {
  const path = fixturePath(TOK512);
  const tok = Llama2cTokenizer.fromBytes(readFileSync(path));
  const hf = hfTwin(tok);
  // U+2581 is a character to llama2.c (byte fallback) but a space to the SentencePiece-style normalizer.
  assert.notDeepEqual(hf.encode('a▁b'), tok.encode('a▁b', { bos: true }));
  assert.deepEqual(hf.encode('a▁b'), tok.encode('a b', { bos: true }));
  // Literal special-token text becomes the special id in Hugging Face, plain characters in llama2.c.
  assert.deepEqual(hf.encode('<unk>', { bos: false }), [0]);
  assert.ok(tok.encode('<unk>').length > 1);
});

test('HfTokenizer: options, empty input and coded errors', () => {
  const hf = hfTwin(new Llama2cTokenizer(SMALL));
  const hello = hf.encode('hello', { bos: false });
  assert.deepEqual(hf.encode('hello'), [1, ...hello]);
  assert.deepEqual(hf.encode('hello', { bos: false, eos: true }), [...hello, 2]);
  assert.deepEqual(hf.encode(''), [1]);
  assert.equal(hf.decode([]), '');
  assert.equal(hf.decode([1, ...hello, 2]), 'hello');
  // The Strip decoder removes one leading space of the whole text, so it survives after a kept '<s>'.
  assert.equal(hf.decode([1, ...hello], { skipSpecialTokens: false }), '<s> hello');
  assert.equal(hf.pieceToId('▁hello'), hello[0]);
  assert.equal(hf.idToPiece(hello[0] as number), '▁hello');
  assert.throws(
    () => hf.decode([hf.vocabSize]),
    (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_TOKENIZER_ID_RANGE'),
  );
  assert.throws(
    () => new HfTokenizer([]),
    (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_TOKENIZER_INVALID'),
  );
  assert.throws(
    () => new HfTokenizer({ model: { type: 'Nope' } }),
    (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_TOKENIZER_INVALID'),
  );
  // Without a tokenizer_config.json nothing is added by default and there are no named specials.
  const bare = new HfTokenizer(new Llama2cTokenizer(SMALL).toHfTokenizerJson());
  assert.deepEqual(bare.encode('hello'), hello);
  assert.equal(bare.bosId, undefined);
});

test('loadTokenizer: picks tokenizer.json or tokenizer.bin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftkit-tok-'));
  try {
    const tok = new Llama2cTokenizer(SMALL);
    await rejectsWith(loadTokenizer(dir), 'PEFTKIT_E_TOKENIZER_NOT_FOUND');
    writeFileSync(join(dir, 'tokenizer.bin'), tok.toBytes());
    const fromBin = await loadTokenizer(dir);
    assert.ok(fromBin instanceof Llama2cTokenizer);
    assert.deepEqual(fromBin.encode('hello world'), tok.encode('hello world'));
    await rejectsWith(loadTokenizer(dir, { vocabSize: 3 }), 'PEFTKIT_E_LLAMA2C_TOKENIZER_VOCAB_MISMATCH');
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.toHfTokenizerJson()));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tok.toHfTokenizerConfig()));
    const fromJson = await loadTokenizer(new URL(`file://${dir}/`));
    assert.ok(fromJson instanceof HfTokenizer);
    assert.deepEqual(fromJson.encode('hello world'), tok.encode('hello world', { bos: true }));
    assert.ok((await loadTokenizer(dir, { prefer: 'bin' })) instanceof Llama2cTokenizer);
    writeFileSync(join(dir, 'tokenizer_config.json'), '{ not json');
    await rejectsWith(loadTokenizer(dir), 'PEFTKIT_E_TOKENIZER_INVALID');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
