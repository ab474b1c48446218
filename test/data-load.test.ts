import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ChatTemplate,
  chatLabels,
  collate,
  DATA_ERROR_CODES,
  type DataRecord,
  loadChatTemplate,
  loadDataset,
  parseDataConfig,
  prepareDataset,
} from '../packages/data/src/index.ts';
import { convertLlama2cFiles } from '../packages/models/src/convert/llama2c-files.ts';
import { isPeftkitError } from '../packages/io/src/errors.ts';
import { loadTokenizer } from '../packages/models/src/tokenizers/load.ts';
import { IGNORE_INDEX } from '../core/src/train/types.ts';
import { stories260KFiles } from './support/shared.ts';

const CHATML_DIR = fileURLToPath(new URL('./fixtures/data/chatml-model/', import.meta.url));
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/data/${name}`, import.meta.url));
const source = { file: 'mem', line: 1 };

function codeIs(code: string, line?: number): (error: unknown) => boolean {
  return (error: unknown) => isPeftkitError(error, code) && (line === undefined || error.details.line === line);
}

/** The text of the tokens that carry a loss, specials included. */
function trainedText(
  tok: { decode(ids: readonly number[], o?: { skipSpecialTokens?: boolean }): string },
  ids: readonly number[],
  labels: readonly number[],
): string {
  return ids
    .filter((_, i) => labels[i] !== IGNORE_INDEX)
    .map((id) => tok.decode([id], { skipSpecialTokens: false }))
    .join('');
}

test('loadDataset: fixture files end to end, collate-able, coded errors with file and line', async () => {
  const tok = await loadTokenizer(CHATML_DIR);
  const chatTemplate = await loadChatTemplate(CHATML_DIR);
  const chat = await loadDataset(
    fixture('chat.jsonl'),
    { tokenizer: tok, chatTemplate },
    { maxLength: 256, evalCount: 1, seed: 1 },
  );
  assert.equal(chat.format, 'chat', 'format');
  assert.deepEqual([chat.train.length, chat.eval.length], [2, 1], 'split sizes');
  const batch = collate(chat.train, { padId: tok.padId ?? 0 });
  const expectedLoss = chat.train.reduce(
    (n, e) => n + (e.labels ?? []).slice(1).filter((l) => l !== IGNORE_INDEX).length,
    0,
  );
  assert.equal(batch.lossTokens, expectedLoss, 'collate counts the assistant tokens');
  const spam = await loadDataset(fixture('spam.csv'), { tokenizer: tok }, { maxLength: 16, shuffle: false });
  assert.deepEqual(spam.labels, ['ham', 'spam'], 'label names derived');
  assert.deepEqual(
    spam.train.map((e) => e.label),
    [1, 0, 1, 0],
    'class indices in file order',
  );
  assert.equal(spam.stats.truncated, 3, 'three texts are longer than 16 tokens');
  const qa = await loadDataset(fixture('qa.jsonl'), { tokenizer: tok }, { maxLength: 64 });
  assert.ok(
    qa.train.every((e) => trainedText(tok, e.ids, e.labels ?? []).endsWith('.<|im_end|>')),
    'completions end with the EOS',
  );
  await assert.rejects(
    loadDataset(fixture('bad-label.csv'), { tokenizer: tok }, { maxLength: 64, labels: ['negative', 'positive'] }),
    codeIs(DATA_ERROR_CODES.LABEL, 4),
    'label outside the label set',
  );
  await assert.rejects(
    loadDataset(fixture('stories.jsonl'), { tokenizer: tok }, { maxLength: 8, truncation: false }),
    codeIs(DATA_ERROR_CODES.TOO_LONG),
    'too long without truncation',
  );
  await assert.rejects(
    loadDataset(fixture('qa.jsonl'), { tokenizer: tok }, { maxLength: 64, packing: true }),
    codeIs(DATA_ERROR_CODES.OPTIONS),
    'packing is for text only',
  );
  assert.throws(
    () => parseDataConfig({ maxLength: 64, shufle: true }),
    codeIs(DATA_ERROR_CODES.OPTIONS),
    'strict config',
  );
  assert.throws(() => parseDataConfig({ maxLength: 0 }), codeIs(DATA_ERROR_CODES.OPTIONS), 'maxLength ≥ 2');
  const records: DataRecord[] = [{ format: 'text', text: 'a', source }];
  assert.throws(
    () => prepareDataset('text', records, { tokenizer: tok }, { maxLength: 64, packing: true }),
    codeIs(DATA_ERROR_CODES.EMPTY),
    'too little text to fill a block',
  );
});

test('stories260K tokenizer: completion seam, packing and ChatML with a real SentencePiece vocab', async () => {
  const { model: bin, tokenizer: tokPath } = stories260KFiles();
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-data-'));
  try {
    await convertLlama2cFiles(bin, tokPath, dir);
    const tok = await loadTokenizer(dir);
    const qa = await loadDataset(fixture('qa.jsonl'), { tokenizer: tok }, { maxLength: 64, shuffle: false });
    for (const [k, line] of readFileSync(fixture('qa.jsonl'), 'utf8').trim().split('\n').entries()) {
      const { prompt, completion } = JSON.parse(line) as { prompt: string; completion: string };
      const e = qa.train[k];
      assert.ok(e?.labels, 'labels present');
      assert.equal(e.ids[0], tok.bosId, 'BOS first, as the tokenizer config says');
      assert.equal(e.ids.at(-1), tok.eosId, 'EOS last');
      const promptIds = e.ids.filter((_, i) => e.labels?.[i] === IGNORE_INDEX);
      assert.equal(tok.decode(promptIds), prompt, 'masked part decodes to the prompt');
      assert.equal(
        tok.decode(e.ids.filter((_, i) => e.labels?.[i] !== IGNORE_INDEX)),
        completion.trimStart(),
        'trained part decodes to the completion',
      );
    }
    const stories = await loadDataset(
      fixture('stories.jsonl'),
      { tokenizer: tok },
      { maxLength: 32, packing: true, shuffle: false },
    );
    assert.ok(stories.train.length >= 3 && stories.train.every((e) => e.ids.length === 32), 'full blocks of 32');
    assert.ok(stories.train.flatMap((e) => e.ids).includes(tok.eosId as number), 'documents separated by EOS');
    const config = JSON.parse(readFileSync(join(CHATML_DIR, 'tokenizer_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const template = ChatTemplate.fromTokenizerConfig(config) as ChatTemplate;
    const chat = chatLabels(
      [
        { role: 'user', content: 'Tell me a story.' },
        { role: 'assistant', content: 'Once upon a time, a cat slept.' },
      ],
      template,
      tok,
    );
    assert.equal(
      tok.decode(chat.ids.filter((_, i) => chat.labels[i] !== IGNORE_INDEX)),
      'Once upon a time, a cat slept.<|im_end|>\n',
      'assistant turn, byte-fallback markup',
    );
    // A Llama-2-style template: BOS written by the template, no generation prompt, answer joined by a space.
    const llama2 = new ChatTemplate(
      "{% for m in messages %}{% if m.role == 'user' %}{{ bos_token + '[INST] ' + m.content + ' [/INST]' }}" +
        "{% else %}{{ ' ' + m.content + ' ' + eos_token }}{% endif %}{% endfor %}",
      { bosToken: '<s>', eosToken: '</s>' },
    );
    const turns = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello there.' },
      { role: 'user', content: 'Bye' },
      { role: 'assistant', content: 'Bye now.' },
    ];
    const l2 = chatLabels(turns, llama2, tok);
    assert.deepEqual(
      l2.ids.filter((id) => id === tok.bosId).length,
      2,
      'the template text <s> becomes the BOS id (no extra BOS added)',
    );
    const trained = l2.ids.filter((_, i) => l2.labels[i] !== IGNORE_INDEX);
    assert.equal(trained.filter((id) => id === tok.eosId).length, 2, 'both EOS are trained');
    assert.equal(
      tok.decode(trained).replace(/\s+/g, ' ').trim(),
      'Hello there. Bye now.',
      'only the answers are trained',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
