import assert from 'node:assert/strict';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ChatTemplate,
  chatLabels,
  DATA_ERROR_CODES,
  type DataRecord,
  epochOrder,
  loadChatTemplate,
  packExamples,
  splitTrainEval,
  tokenizeRecord,
  truncateCompletion,
} from '../packages/data/src/index.ts';
import { isPeftkitError } from '../packages/io/src/errors.ts';
import { loadTokenizer } from '../packages/models/src/tokenizers/load.ts';
import { IGNORE_INDEX } from '../core/src/train/types.ts';

const CHATML_DIR = fileURLToPath(new URL('./fixtures/data/chatml-model/', import.meta.url));
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

test('text: loss on every token, EOS appended, truncation keeps the start or is a coded error', async () => {
  const tok = await loadTokenizer(CHATML_DIR);
  const text = 'the cat sat on the mat';
  const record: DataRecord = { format: 'text', text, source };
  const expected = [...tok.encode(text), tok.eosId as number];
  const { example } = tokenizeRecord(record, { tokenizer: tok, maxLength: 100 });
  assert.deepEqual(example?.ids, expected, 'ids = encode(text) + EOS');
  assert.deepEqual(example?.labels, expected, 'labels = ids');
  const cut = tokenizeRecord(record, { tokenizer: tok, maxLength: 5 });
  assert.deepEqual(cut.example?.ids, expected.slice(0, 5), 'the start is kept');
  assert.equal(cut.truncated, true, 'reported as truncated');
  assert.throws(
    () =>
      tokenizeRecord(
        { ...record, source: { file: 'f.jsonl', line: 9 } },
        { tokenizer: tok, maxLength: 5, truncation: false },
      ),
    codeIs(DATA_ERROR_CODES.TOO_LONG, 9),
    'no truncation → TOO_LONG',
  );
  assert.deepEqual(
    tokenizeRecord(record, { tokenizer: tok, maxLength: 100, appendEos: false }).example?.ids,
    tok.encode(text),
    'appendEos: false',
  );
});

test('completion: loss only on completion tokens + EOS', async () => {
  const tok = await loadTokenizer(CHATML_DIR);
  const prompt = 'Q: 2+2?\nA:';
  const completion = ' 4';
  // No merge in this vocab joins ':' and ' ', so the ids split exactly at the seam.
  const promptIds = tok.encode(prompt);
  const completionIds = [...tok.encode(completion), tok.eosId as number];
  const { example } = tokenizeRecord(
    { format: 'completion', prompt, completion, source },
    { tokenizer: tok, maxLength: 64 },
  );
  assert.deepEqual(example?.ids, [...promptIds, ...completionIds], 'ids');
  assert.deepEqual(example?.labels, [...promptIds.map(() => IGNORE_INDEX), ...completionIds], 'labels mask the prompt');
});

test('completion truncation keeps the completion and BOS, and at least half the window of prompt', () => {
  const prompt = [1, 10, 11, 12, 13, 14, 15];
  assert.deepEqual(
    truncateCompletion(prompt, [20, 21, 2], 8),
    { prompt: [11, 12, 13, 14, 15], completion: [20, 21, 2], truncated: true },
    'without bosId the prompt keeps its last tokens',
  );
  assert.deepEqual(
    truncateCompletion(prompt, [20, 21, 2], 8, 1),
    { prompt: [1, 12, 13, 14, 15], completion: [20, 21, 2], truncated: true },
    'BOS kept, prompt cut from its start',
  );
  assert.deepEqual(
    truncateCompletion(prompt, [20, 21, 22, 23, 24, 25, 2], 8, 1),
    { prompt: [1, 13, 14, 15], completion: [20, 21, 22, 23], truncated: true },
    'long completion: the prompt keeps half, the completion end is cut',
  );
  assert.deepEqual(
    truncateCompletion([1, 5], [6, 2], 8, 1),
    { prompt: [1, 5], completion: [6, 2], truncated: false },
    'fits',
  );
});

test('chat (ChatML fixture): loss only on assistant turns including their end marker', async () => {
  const tok = await loadTokenizer(CHATML_DIR);
  const template = await loadChatTemplate(CHATML_DIR);
  assert.ok(template, 'the fixture has a chat template');
  const messages = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi there' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'user', content: 'Bye' },
    { role: 'assistant', content: 'See you.' },
  ];
  const chat = chatLabels(messages, template, tok);
  const rendered = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
  assert.equal(chat.text, rendered, 'ChatML rendering');
  assert.deepEqual(chat.ids, tok.encode(rendered, { bos: false }), 'ids are the rendered conversation');
  assert.equal(
    trainedText(tok, chat.ids, chat.labels),
    'Hello!<|im_end|>\nSee you.<|im_end|>\n',
    'only assistant turns are trained',
  );
  const { example } = tokenizeRecord(
    { format: 'chat', messages, source },
    { tokenizer: tok, maxLength: 256, chatTemplate: template },
  );
  assert.deepEqual(example?.labels, chat.labels, 'tokenizeRecord uses the same labels');
  assert.throws(
    () =>
      chatLabels(
        [
          { role: 'robot', content: 'x' },
          { role: 'assistant', content: 'y' },
        ],
        template,
        tok,
        { file: 'c.jsonl', line: 4 },
      ),
    codeIs(DATA_ERROR_CODES.CHAT_TEMPLATE, 4),
    'raise_exception in the template is coded',
  );
  assert.throws(
    () => chatLabels([{ role: 'user', content: 'x' }], template, tok),
    codeIs(DATA_ERROR_CODES.FIELD),
    'no assistant turn',
  );
  assert.throws(
    () => tokenizeRecord({ format: 'chat', messages, source }, { tokenizer: tok, maxLength: 256 }),
    codeIs(DATA_ERROR_CODES.CHAT_TEMPLATE),
    'no template',
  );
});

test('chat templates: named lists, bad templates, templates that rewrite earlier turns', async () => {
  const tok = await loadTokenizer(CHATML_DIR);
  const named = ChatTemplate.fromTokenizerConfig({
    eos_token: { content: '<|im_end|>' },
    chat_template: [
      { name: 'default', template: '{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}' },
      { name: 'tool_use', template: 'x' },
    ],
  });
  assert.equal(
    named?.render([{ role: 'user', content: 'a' }], false),
    'a<|im_end|>',
    'named default entry with an AddedToken eos',
  );
  assert.equal(ChatTemplate.fromTokenizerConfig({}), undefined, 'no template');
  assert.throws(
    () => ChatTemplate.fromTokenizerConfig({ chat_template: [{ name: 'other', template: 'x' }] }),
    codeIs(DATA_ERROR_CODES.CHAT_TEMPLATE),
    'no default entry',
  );
  assert.throws(() => new ChatTemplate('{% for %}'), codeIs(DATA_ERROR_CODES.CHAT_TEMPLATE), 'syntax error');
  // Renders only the last assistant message in full: earlier turns are not prefixes of the whole.
  const rewriting = new ChatTemplate(
    '{% for m in messages %}{% if loop.last %}{{ m.content }}{% else %}{{ m.role }}|{% endif %}{% endfor %}' +
      '{% if add_generation_prompt %}>{% endif %}',
  );
  assert.throws(
    () =>
      chatLabels(
        [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 'a' },
          { role: 'user', content: 'r' },
        ],
        rewriting,
        tok,
      ),
    codeIs(DATA_ERROR_CODES.CHAT_TEMPLATE),
    'non-prefix rendering is rejected, not mislabelled',
  );
});

test('packing: group_texts blocks, EOS separators, remainder dropped', async () => {
  const tok = await loadTokenizer(CHATML_DIR);
  const texts = ['one cat', 'two dogs ran', 'the end'];
  const flat = texts.flatMap((t) => [...tok.encode(t), tok.eosId as number]);
  const examples = texts.map((t) => ({ ids: [...tok.encode(t), tok.eosId as number] }));
  const blocks = packExamples(examples, 8);
  assert.equal(blocks.length, Math.floor(flat.length / 8), 'whole blocks only');
  assert.deepEqual(
    blocks.flatMap((b) => [...b.ids]),
    flat.slice(0, blocks.length * 8),
    'concatenation in order',
  );
  assert.deepEqual(blocks[0]?.labels, blocks[0]?.ids, 'labels = ids across boundaries');
  const rest = flat.length % 8;
  // A 1-token remainder cannot carry a shifted loss and is dropped even on request.
  assert.equal(
    packExamples(examples, 8, { dropRemainder: false }).length,
    blocks.length + (rest >= 2 ? 1 : 0),
    'remainder kept on request',
  );
  assert.deepEqual(
    packExamples(examples, 5, { dropRemainder: false }).flatMap((b) => [...b.ids]),
    flat.length % 5 === 1 ? flat.slice(0, -1) : flat,
    'nothing lost but a 1-token tail',
  );
});

test('split and epoch order: deterministic per seed, disjoint, complete', () => {
  const items = Array.from({ length: 50 }, (_, i) => i);
  const a = splitTrainEval(items, { evalFraction: 0.2, seed: 7 });
  const b = splitTrainEval(items, { evalFraction: 0.2, seed: 7 });
  const c = splitTrainEval(items, { evalFraction: 0.2, seed: 8 });
  assert.deepEqual(a, b, 'same seed, same split');
  assert.notDeepEqual(a.eval, c.eval, 'another seed, another split');
  assert.equal(a.eval.length, 10, '20 % of 50');
  assert.deepEqual(
    [...a.train, ...a.eval].sort((x, y) => x - y),
    items,
    'disjoint and complete',
  );
  assert.equal(splitTrainEval(items, { evalCount: 3, evalFraction: 0.5 }).eval.length, 3, 'count wins');
  assert.deepEqual(splitTrainEval(items, { evalCount: 2, shuffle: false }).eval, [0, 1], 'unshuffled: the first items');
  assert.throws(() => splitTrainEval(items, { evalCount: 50 }), codeIs(DATA_ERROR_CODES.OPTIONS), 'no train data left');
  const e0 = epochOrder(20, 3, 0);
  assert.deepEqual(
    [...e0].sort((x, y) => x - y),
    Array.from({ length: 20 }, (_, i) => i),
    'a permutation',
  );
  assert.deepEqual(epochOrder(20, 3, 0), e0, 'recomputable');
  assert.notDeepEqual(epochOrder(20, 3, 1), e0, 'another epoch, another order');
});
