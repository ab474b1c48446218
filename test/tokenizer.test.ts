import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';
import { isPeftkitError } from '../packages/io/src/errors.ts';
import {
  Llama2cTokenizer,
  type Llama2cVocab,
  parseLlama2cTokenizer,
  serializeLlama2cTokenizer,
} from '../packages/models/src/tokenizers/llama2c.ts';
import { fixturePath } from './support/shared.ts';

const TOK512 = 'stories260K/tok512.bin';

/** A llama2.c-style vocab: <unk>, BOS, EOS, 256 byte tokens, then pieces with descending scores. */
function syntheticVocab(pieces: string[]): Llama2cVocab {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const all = ['<unk>', '\n<s>\n', '\n</s>\n', ...bytes, ...pieces];
  const scores = Float32Array.from(all, (_, id) => (id < 259 ? 0 : -(id - 259)));
  return { maxTokenLength: Math.max(...all.map((p) => new TextEncoder().encode(p).length)), pieces: all, scores };
}

// Merged tokens first (higher scores), single characters last, as SentencePiece orders them.
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
  'é',
]);

/** llama2.c's encode, transcribed literally: rescan for the best pair after every merge. */
function naiveEncode(tok: Llama2cTokenizer, text: string): number[] {
  const ids: number[] = [];
  const pushChar = (ch: string): void => {
    const id = tok.pieceToId(ch);
    if (id !== undefined) ids.push(id);
    else for (const b of new TextEncoder().encode(ch)) ids.push(b + 3);
  };
  if (text !== '') pushChar(' ');
  for (const ch of text) pushChar(ch);
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const id = tok.pieceToId(`${tok.idToPiece(ids[i] as number)}${tok.idToPiece(ids[i + 1] as number)}`);
      if (id !== undefined && tok.score(id) > bestScore) {
        bestScore = tok.score(id);
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) return ids;
    ids.splice(bestIdx, 2, bestId);
  }
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (isPeftkitError(error)) return error.code;
    throw error;
  }
  return undefined;
}

function randomText(seed: number, alphabet: string[], maxLength: number): string[] {
  let state = seed;
  const next = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  return Array.from({ length: 150 }, () =>
    Array.from({ length: next(maxLength) }, () => alphabet[next(alphabet.length)]).join(''),
  );
}

test('llama2c tokenizer: file format round-trips', () => {
  const bytes = serializeLlama2cTokenizer(SMALL);
  const parsed = parseLlama2cTokenizer(bytes);
  assert.deepEqual(parsed.pieces, SMALL.pieces);
  assert.deepEqual(parsed.scores, SMALL.scores);
  assert.equal(parsed.maxTokenLength, SMALL.maxTokenLength);
  assert.equal(parseLlama2cTokenizer(bytes, { vocabSize: SMALL.pieces.length }).pieces.length, SMALL.pieces.length);
});

test('llama2c tokenizer: merges by score, dummy prefix, byte fallback', () => {
  const tok = new Llama2cTokenizer(SMALL);
  assert.equal(tok.vocabSize, SMALL.pieces.length);
  assert.deepEqual([tok.unkId, tok.bosId, tok.eosId, tok.padId], [0, 1, 2, undefined]);
  const pieces = (ids: number[]): (string | undefined)[] => ids.map((id) => tok.idToPiece(id));
  assert.deepEqual(pieces(tok.encode('hello world')), [' hello', ' world']);
  assert.deepEqual(tok.encode(''), []);
  assert.deepEqual(tok.encode('', { bos: true, eos: true }), [1, 2]);
  assert.deepEqual(pieces(tok.encode('hello\n')), [' hello', '<0x0A>']);
  // 'ß' is not a piece: its two UTF-8 bytes become byte tokens (byte + 3); 'é' is a piece.
  assert.deepEqual(tok.encode('ßé').slice(1), [0xc3 + 3, 0x9f + 3, tok.pieceToId('é')]);
  assert.equal(tok.decode(tok.encode('ßé hello', { bos: true, eos: true })), 'ßé hello');
  assert.equal(tok.decode(tok.encode('ßé', { bos: true }), { skipSpecialTokens: false }), '\n<s>\nßé');
});

test('llama2c tokenizer: decodeToken follows llama2.c and the stream decoder keeps multi-byte characters', () => {
  const tok = new Llama2cTokenizer(SMALL);
  const hello = tok.pieceToId(' hello') as number;
  assert.equal(tok.decodeToken(tok.bosId, hello), 'hello');
  assert.equal(tok.decodeToken(hello, hello), ' hello');
  assert.deepEqual(tok.decodeTokenBytes(hello, 0x0a + 3), Uint8Array.of(0x0a));
  const ids = tok.encode('hello 😀 world', { bos: true });
  const stream = tok.streamDecoder();
  const chunks = ids.map((id) => stream.push(id));
  assert.equal(chunks.join('') + stream.flush(), 'hello 😀 world');
  assert.ok(chunks.includes('😀'), 'the emoji arrives whole, at its last byte');
});

test('llama2c tokenizer: malformed files raise coded errors', () => {
  const good = serializeLlama2cTokenizer(SMALL);
  const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const firstLength = 4 + 4; // max_token_length, then token 0's score
  const cases: [string, Uint8Array, string][] = [
    ['empty', new Uint8Array(0), 'PEFTKIT_E_LLAMA2C_TOKENIZER_TRUNCATED'],
    ['header only', good.slice(0, 4), 'PEFTKIT_E_LLAMA2C_TOKENIZER_INVALID'],
    ['cut record header', good.slice(0, 10), 'PEFTKIT_E_LLAMA2C_TOKENIZER_TRUNCATED'],
    ['cut piece', good.slice(0, good.length - 1), 'PEFTKIT_E_LLAMA2C_TOKENIZER_TRUNCATED'],
  ];
  const negative = good.slice();
  view(negative).setInt32(firstLength, -1, true);
  cases.push(['negative length', negative, 'PEFTKIT_E_LLAMA2C_TOKENIZER_INVALID']);
  const tooLong = good.slice();
  view(tooLong).setInt32(0, 2, true);
  cases.push(['piece longer than max_token_length', tooLong, 'PEFTKIT_E_LLAMA2C_TOKENIZER_INVALID']);
  const zeroMax = good.slice();
  view(zeroMax).setInt32(0, 0, true);
  cases.push(['max_token_length 0', zeroMax, 'PEFTKIT_E_LLAMA2C_TOKENIZER_INVALID']);
  const nan = good.slice();
  view(nan).setFloat32(4, Number.NaN, true);
  cases.push(['NaN score', nan, 'PEFTKIT_E_LLAMA2C_TOKENIZER_INVALID']);
  const badUtf8 = good.slice();
  badUtf8[firstLength + 4] = 0xff; // first byte of '<unk>'
  cases.push(['invalid UTF-8', badUtf8, 'PEFTKIT_E_LLAMA2C_TOKENIZER_INVALID']);
  for (const [name, bytes, code] of cases)
    assert.equal(
      codeOf(() => parseLlama2cTokenizer(bytes)),
      code,
      name,
    );
  assert.equal(
    codeOf(() => parseLlama2cTokenizer(good, { vocabSize: 512 })),
    'PEFTKIT_E_LLAMA2C_TOKENIZER_VOCAB_MISMATCH',
  );
  const tok = new Llama2cTokenizer(SMALL);
  assert.equal(
    codeOf(() => tok.decode([tok.vocabSize])),
    'PEFTKIT_E_TOKENIZER_ID_RANGE',
  );
  assert.equal(
    codeOf(() => tok.decode([-1])),
    'PEFTKIT_E_TOKENIZER_ID_RANGE',
  );
});

test('llama2c tokenizer: heap merge equals the literal llama2.c loop (synthetic vocab)', () => {
  const tok = new Llama2cTokenizer(SMALL);
  for (const text of randomText(7, [...'helowrdé ßx', ' ', 'll'], 40))
    assert.deepEqual(tok.encode(text), naiveEncode(tok, text), JSON.stringify(text));
});

test('tok512.bin: pieces, encodings and round trips', () => {
  const path = fixturePath(TOK512);
  const tok = Llama2cTokenizer.fromBytes(readFileSync(path), { vocabSize: 512 });
  assert.equal(tok.vocabSize, 512);
  assert.equal(tok.maxTokenLength, 7);
  assert.deepEqual(
    [0, 1, 2, 3, 258].map((id) => tok.idToPiece(id)),
    ['<unk>', '\n<s>\n', '\n</s>\n', '<0x00>', '<0xFF>'],
  );
  const pieces = tok.encode('Once upon a time', { bos: true }).map((id) => tok.idToPiece(id));
  assert.deepEqual(pieces, ['\n<s>\n', ' Once', ' upon', ' a', ' time']);
  const samples = [
    'Once upon a time, there was a little girl named Lily.',
    'Hello, World!',
    '  leading, trailing and   inner   spaces  ',
    'tabs\tand\nnew\r\nlines\n\n',
    'digits 0123456789 and 3.14159',
    'unicode: café, naïve, Ελληνικά, 日本語, ß',
    'emoji 😀👍🏽 and a flag 🇫🇷',
    'symbols <>[]{}|\\~`^%$#@!',
    ' ',
    'x',
  ];
  for (const text of samples) {
    const ids = tok.encode(text, { bos: true, eos: true });
    assert.equal(ids[0], 1);
    assert.equal(ids.at(-1), 2);
    assert.equal(tok.decode(ids), text, JSON.stringify(text));
    assert.equal(tok.decode(tok.encode(text)), text, `${JSON.stringify(text)} without BOS`);
  }
  // Characters missing from the vocab go through byte tokens: 😀 is F0 9F 98 80.
  assert.deepEqual(tok.encode('😀').slice(1), [0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3]);
});

test('tok512.bin: heap merge equals the literal llama2.c loop on random text', () => {
  const path = fixturePath(TOK512);
  const tok = Llama2cTokenizer.fromBytes(readFileSync(path));
  const alphabet = [...'abcdefghilmnoprstuwy ,.!\'"\nTOL0123é😀', ' the', 'ing', 'ed '];
  for (const text of randomText(42, alphabet, 80))
    assert.deepEqual(tok.encode(text), naiveEncode(tok, text), JSON.stringify(text));
});
