import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError } from '@peftkit/core';
import {
  byteToUnicode,
  GPT2_SPLIT_PATTERN,
  mergesFileText,
  trainByteLevelBpe,
} from '../packages/models/src/tokenizers/bpe-train.ts';

const CORPUS = [
  'The whale, the whale! There she blows! The white whale breaches.',
  "It's the sea's own way; we'll sail the seas and they've seen the whale.",
  'Numbers 1851 and 2024, unicode café naïve — and emoji 🐋 too.',
];

/**
 * Applies merges in priority order to one pre-tokenized piece (the textbook BPE encode, independent of the trainer).
 */
function encodePiece(piece: string, merges: readonly string[]): string[] {
  const table = byteToUnicode();
  let symbols = [...new TextEncoder().encode(piece)].map((b) => table[b] as string);
  const rank = new Map(merges.map((m, i) => [m, i]));
  for (;;) {
    let best = -1;
    let at = -1;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const r = rank.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (r !== undefined && (best === -1 || r < best)) {
        best = r;
        at = i;
      }
    }
    if (at === -1) return symbols;
    symbols = [...symbols.slice(0, at), `${symbols[at]}${symbols[at + 1]}`, ...symbols.slice(at + 2)];
  }
}

test('byte table: 256 distinct printable characters, printable ASCII maps to itself', () => {
  const table = byteToUnicode();
  assert.equal(new Set(table).size, 256, 'reversible');
  assert.equal(table[0x41], 'A', 'ASCII letters unchanged');
  assert.equal(table[0x20], 'Ġ', 'space is U+0120 as in GPT-2');
  assert.equal(table[0x0a], 'Ċ', 'newline is U+010A as in GPT-2');
});

test(
  'trained vocabulary: bytes, then merges, then specials, contiguous ids; ' + 'every merge spells a vocabulary token',
  () => {
    const v = trainByteLevelBpe(CORPUS, { vocabSize: 300, minFrequency: 2, specialTokens: ['<|endoftext|>'] });
    const ids = Object.values(v.encoder).sort((a, b) => a - b);
    assert.deepEqual(ids, [...ids.keys()], 'ids are 0..n-1 without gaps');
    assert.equal(v.encoder['<|endoftext|>'], ids.length - 1, 'special token last');
    for (const m of v.merges) assert.ok(m.replace(' ', '') in v.encoder, `merge '${m}' yields a token`);
    assert.ok(ids.length <= 300, 'vocabulary size respected');
    assert.match(mergesFileText(v.merges), /^#version: 0\.2\n/, 'vocab.bpe header');
  },
);

test('the first merge is the most frequent adjacent byte pair (counted independently)', () => {
  const table = byteToUnicode();
  const counts = new Map<string, number>();
  for (const text of CORPUS) {
    for (const m of text.matchAll(GPT2_SPLIT_PATTERN)) {
      const s = [...new TextEncoder().encode(m[0])].map((b) => table[b] as string);
      for (let i = 0; i + 1 < s.length; i++)
        counts.set(`${s[i]} ${s[i + 1]}`, (counts.get(`${s[i]} ${s[i + 1]}`) ?? 0) + 1);
    }
  }
  const top = Math.max(...counts.values());
  const v = trainByteLevelBpe(CORPUS, { vocabSize: 260 });
  assert.equal(counts.get(v.merges[0] as string), top, `first merge '${v.merges[0]}' has the top count ${top}`);
});

test(
  'encoding with the merges reproduces every piece and compresses the training text; ' + 'training is deterministic',
  () => {
    const v = trainByteLevelBpe(CORPUS, { vocabSize: 400 });
    const table = byteToUnicode();
    let pieces = 0;
    let bytes = 0;
    for (const text of CORPUS) {
      for (const m of text.matchAll(GPT2_SPLIT_PATTERN)) {
        const tokens = encodePiece(m[0], v.merges);
        for (const t of tokens) assert.ok(t in v.encoder, `token '${t}' is in the vocabulary`);
        const expected = [...new TextEncoder().encode(m[0])].map((b) => table[b]).join('');
        assert.equal(tokens.join(''), expected, `piece '${m[0]}' round-trips`);
        pieces += tokens.length;
        bytes += new TextEncoder().encode(m[0]).length;
      }
    }
    assert.ok(pieces < bytes * 0.7, `merges compress the corpus (${pieces} tokens for ${bytes} bytes)`);
    assert.deepEqual(trainByteLevelBpe(CORPUS, { vocabSize: 400 }), v, 'same input, same vocabulary');
  },
);

test('a vocabulary smaller than the byte alphabet plus specials is a coded error', () => {
  assert.throws(
    () => trainByteLevelBpe(CORPUS, { vocabSize: 256, specialTokens: ['<s>'] }),
    (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_TOKENIZER_TRAIN'),
    'coded error',
  );
});
