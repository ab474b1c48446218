import assert from 'node:assert/strict';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DATA_ERROR_CODES,
  detectFormat,
  labelIndex,
  parseCsv,
  parseDataText,
  parseJsonl,
  readDataFile,
  resolveLabelNames,
} from '../packages/data/src/index.ts';
import { isPeftkitError } from '../packages/io/src/errors.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/data/${name}`, import.meta.url));

function throwsCode(fn: () => unknown, code: string, line?: number): void {
  assert.throws(
    fn,
    (error: unknown) =>
      isPeftkitError(error, code) &&
      (line === undefined || (error.details.line === line && error.message.includes(`:${line}:`))),
    `expected ${code}${line === undefined ? '' : ` at line ${line}`}`,
  );
}

async function rejectsCode(promise: Promise<unknown>, code: string, line?: number): Promise<void> {
  await assert.rejects(
    promise,
    (error: unknown) => isPeftkitError(error, code) && (line === undefined || error.details.line === line),
    `expected ${code}${line === undefined ? '' : ` at line ${line}`}`,
  );
}

test('JSONL: BOM, CRLF, blank lines and line numbers', () => {
  const rows = parseJsonl('\uFEFF{"text":"a"}\r\n\r\n  \n{"text":"b\\nc"}\n', 'x.jsonl');
  assert.deepEqual(
    rows.map((r) => [r.line, r.value.text]),
    [
      [1, 'a'],
      [4, 'b\nc'],
    ],
    'rows keep their physical line numbers',
  );
});

test('JSONL: malformed lines are coded errors naming the line', () => {
  throwsCode(() => parseJsonl('{"text":"a"}\n{"text": \n', 'x.jsonl'), DATA_ERROR_CODES.JSON, 2);
  throwsCode(() => parseJsonl('{"text":"a"}\n\n[1,2]\n', 'x.jsonl'), DATA_ERROR_CODES.JSON, 3);
  throwsCode(() => parseJsonl('"just a string"', 'x.jsonl'), DATA_ERROR_CODES.JSON, 1);
});

test('CSV: RFC 4180 quoting, escaped quotes, embedded newlines, CRLF, BOM', () => {
  const text = '\uFEFFa,b,c\r\n1,"x,y","say ""hi"""\r\n"multi\r\nline",,"end"\r\n\r\nlast,"",\n';
  const rows = parseCsv(text, 'x.csv');
  assert.deepEqual(
    rows.map((r) => ({ ...r.value })),
    [
      { a: '1', b: 'x,y', c: 'say "hi"' },
      { a: 'multi\r\nline', b: '', c: 'end' },
      { a: 'last', b: '', c: '' },
    ],
    'field values',
  );
  assert.deepEqual(
    rows.map((r) => r.line),
    [2, 3, 6],
    'each record starts on its own physical line (embedded newlines counted)',
  );
  assert.deepEqual(
    parseCsv('t\tl\nx y\t1', 'x.tsv', { delimiter: '\t' }).map((r) => ({ ...r.value })),
    [{ t: 'x y', l: '1' }],
    'tab delimiter, no final newline',
  );
});

test('CSV: malformed rows are coded errors naming the line', () => {
  throwsCode(() => parseCsv('a,b\n1,2\n3\n', 'x.csv'), DATA_ERROR_CODES.CSV, 3);
  throwsCode(() => parseCsv('a,b\n1,2\n"open,2\n4,5\n', 'x.csv'), DATA_ERROR_CODES.CSV, 3);
  throwsCode(() => parseCsv('a,b\n1,2\n"x"y,2\n', 'x.csv'), DATA_ERROR_CODES.CSV, 3);
  throwsCode(() => parseCsv('a,b\n1,2\nx"y,2\n', 'x.csv'), DATA_ERROR_CODES.CSV, 3);
  throwsCode(() => parseCsv('a,a\n1,2\n', 'x.csv'), DATA_ERROR_CODES.CSV, 1);
  throwsCode(() => parseCsv('a,\n1,2\n', 'x.csv'), DATA_ERROR_CODES.CSV, 1);
  throwsCode(() => parseCsv('', 'x.csv'), DATA_ERROR_CODES.EMPTY);
  throwsCode(() => parseCsv('a,b\n"x\ny",2\n3,"4\n', 'x.csv'), DATA_ERROR_CODES.CSV, 4);
});

test('format detection from fields, explicit override, missing fields name the line', () => {
  assert.equal(detectFormat({ text: 'a' }), 'text', '{text}');
  assert.equal(detectFormat({ text: 'a', label: 1 }), 'classification', '{text,label}');
  assert.equal(detectFormat({ prompt: 'a', completion: 'b' }), 'completion', '{prompt,completion}');
  assert.equal(detectFormat({ messages: [] }), 'chat', '{messages}');
  assert.equal(detectFormat({ prompt: 'a' }), undefined, 'prompt alone fits nothing');
  const file = parseDataText('{"text":"a","label":"x"}\n', 'x.jsonl', { format: 'text' });
  assert.equal(file.format, 'text', 'override wins over detection');
  assert.deepEqual(
    file.records[0],
    { format: 'text', text: 'a', source: { file: 'x.jsonl', line: 1 } },
    'record shape',
  );
  throwsCode(() => parseDataText('{"text":"a"}\n{"txt":"b"}\n', 'x.jsonl'), DATA_ERROR_CODES.FIELD, 2);
  throwsCode(() => parseDataText('{"text":"a"}\n{"text":3}\n', 'x.jsonl'), DATA_ERROR_CODES.FIELD, 2);
  throwsCode(() => parseDataText('{"foo":"a"}\n', 'x.jsonl'), DATA_ERROR_CODES.FORMAT, 1);
  throwsCode(() => parseDataText('\n\n', 'x.jsonl'), DATA_ERROR_CODES.EMPTY);
  throwsCode(() => parseDataText('{"text":"a"}', 'x.parquet'), DATA_ERROR_CODES.FORMAT);
  throwsCode(() => parseDataText('{"messages":[{"role":"user"}]}', 'x.jsonl'), DATA_ERROR_CODES.FIELD, 1);
  throwsCode(() => parseDataText('{"text":"a","label":1.5}', 'x.jsonl'), DATA_ERROR_CODES.FIELD, 1);
  const csvChat = parseDataText('messages\n"[{""role"":""user"",""content"":""hi""}]"\n', 'c.csv');
  assert.deepEqual(
    csvChat.records[0],
    { format: 'chat', messages: [{ role: 'user', content: 'hi' }], source: { file: 'c.csv', line: 2 } },
    'CSV chat cell as JSON',
  );
});

test('labels: by name through the label list, by integer index, validated', () => {
  assert.deepEqual(resolveLabelNames(['spam', 'ham', 'spam']), ['ham', 'spam'], 'derived names are sorted');
  assert.deepEqual(resolveLabelNames(['0', 2, '1']), ['0', '1', '2'], 'integer labels become index names');
  assert.deepEqual(resolveLabelNames(['x'], ['neg', 'pos']), ['neg', 'pos'], 'declared list wins');
  assert.equal(labelIndex('pos', ['neg', 'pos']), 1, 'by name');
  assert.equal(labelIndex(0, ['neg', 'pos']), 0, 'by index');
  assert.equal(labelIndex('1', ['neg', 'pos']), 1, 'integer text from CSV by index');
  assert.equal(labelIndex('1', ['0', '1']), 1, 'a name wins over an index');
  throwsCode(() => labelIndex('neutral', ['neg', 'pos'], { file: 'f', line: 7 }), DATA_ERROR_CODES.LABEL, 7);
  throwsCode(() => labelIndex(2, ['neg', 'pos']), DATA_ERROR_CODES.LABEL);
  throwsCode(() => labelIndex(-1, ['neg', 'pos']), DATA_ERROR_CODES.LABEL);
  throwsCode(() => resolveLabelNames([], ['a', 'a']), DATA_ERROR_CODES.OPTIONS);
});

test('fixture files: CSV with BOM/CRLF/quotes, JSONL with a broken line, missing file', async () => {
  const spam = await readDataFile(fixture('spam.csv'));
  assert.equal(spam.format, 'classification', 'detected {text,label}');
  assert.deepEqual(
    spam.records.map((r) => (r.format === 'classification' ? [r.source.line, r.label, r.text.length] : [])),
    [
      [2, 'spam', 'Win a FREE prize, click now!'.length],
      [3, 'ham', 'Meeting moved to 3pm, see "agenda" below'.length],
      [4, 'spam', 'Dear friend,\r\nyou have won $1,000,000'.length],
      [6, 'ham', 'Lunch tomorrow?'.length],
    ],
    'records, labels and lines',
  );
  await rejectsCode(readDataFile(fixture('bad-line3.jsonl')), DATA_ERROR_CODES.JSON, 3);
  await rejectsCode(readDataFile(fixture('does-not-exist.jsonl')), DATA_ERROR_CODES.READ);
});

test('a large file parses in one linear pass', () => {
  // 200k lines (~10 MB): a quadratic parser would not finish in test time.
  const line = '{"text":"Once upon a time there was a little cat, and \\"it\\" was happy."}\n';
  const rows = parseJsonl(line.repeat(200_000), 'big.jsonl');
  assert.equal(rows.length, 200_000, 'all JSONL rows');
  const csv = `text,label\n${'"a ""quoted"", multi\nline text",1\n'.repeat(100_000)}`;
  const csvRows = parseCsv(csv, 'big.csv');
  assert.equal(csvRows.length, 100_000, 'all CSV rows');
  assert.equal(csvRows[99_999]?.line, 2 + 2 * 99_999, 'line numbers count embedded newlines');
});
