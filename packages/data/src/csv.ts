import { DATA_ERROR_CODES, dataError } from './errors.ts';
import type { RawRow } from './jsonl.ts';

export interface CsvOptions {
  /** Field separator, one character. Default ','. */
  readonly delimiter?: string;
}

const QUOTE = 34;
const CR = 13;
const LF = 10;

/**
 * Parses RFC 4180 CSV with a header row: quoted fields (`"a,b"`), escaped quotes (`""`), newlines inside quoted
 * fields, CRLF or LF row ends, an optional UTF-8 BOM. Fully empty lines are skipped. Strict: a quote inside an
 * unquoted field, text after a closing quote, an unterminated quote or a row with the wrong number of fields is
 * PEFTKIT_E_DATA_CSV naming the line. Every value is a string. One pass, linear in the input.
 */
export function parseCsv(text: string, file: string, options: CsvOptions = {}): RawRow[] {
  const delimiter = options.delimiter ?? ',';
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw dataError(DATA_ERROR_CODES.OPTIONS, undefined, `invalid CSV delimiter ${JSON.stringify(delimiter)}`);
  }
  const sep = delimiter.charCodeAt(0);
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let header: string[] | undefined;
  const rows: RawRow[] = [];
  while (i < n) {
    const rowLine = line;
    // A fully empty line is no record.
    if (text.charCodeAt(i) === LF || (text.charCodeAt(i) === CR && text.charCodeAt(i + 1) === LF)) {
      i += text.charCodeAt(i) === CR ? 2 : 1;
      line++;
      continue;
    }
    const fields: string[] = [];
    let rowDone = false;
    while (!rowDone) {
      let value: string;
      if (text.charCodeAt(i) === QUOTE) {
        const opened = line;
        let j = i + 1;
        let parts = '';
        let from = j;
        for (;;) {
          const q = text.indexOf('"', j);
          if (q === -1) throw dataError(DATA_ERROR_CODES.CSV, { file, line: opened }, 'unterminated quoted field');
          line += countNewlines(text, j, q);
          if (text.charCodeAt(q + 1) === QUOTE) {
            parts += text.slice(from, q + 1);
            j = q + 2;
            from = j;
            continue;
          }
          value = parts + text.slice(from, q);
          i = q + 1;
          break;
        }
        const next = text.charCodeAt(i);
        if (i < n && next !== sep && next !== LF && !(next === CR && text.charCodeAt(i + 1) === LF)) {
          throw dataError(
            DATA_ERROR_CODES.CSV,
            { file, line },
            `unexpected text after a closing quote in field ${fields.length + 1}`,
          );
        }
      } else {
        let j = i;
        while (j < n) {
          const c = text.charCodeAt(j);
          if (c === sep || c === LF || (c === CR && text.charCodeAt(j + 1) === LF)) break;
          if (c === QUOTE)
            throw dataError(DATA_ERROR_CODES.CSV, { file, line }, `a quote inside unquoted field ${fields.length + 1}`);
          j++;
        }
        value = text.slice(i, j);
        i = j;
      }
      fields.push(value);
      const c = text.charCodeAt(i);
      if (i >= n) rowDone = true;
      else if (c === sep) i++;
      else {
        i += c === CR ? 2 : 1;
        line++;
        rowDone = true;
      }
      // A delimiter right before the end of input still opens one more (empty) field.
      if (!rowDone && i >= n) {
        fields.push('');
        rowDone = true;
      }
    }
    if (header === undefined) {
      header = checkHeader(fields, file, rowLine);
      continue;
    }
    if (fields.length !== header.length) {
      throw dataError(
        DATA_ERROR_CODES.CSV,
        { file, line: rowLine },
        `expected ${header.length} fields, found ${fields.length}`,
        {
          expected: header.length,
          found: fields.length,
        },
      );
    }
    const value: Record<string, unknown> = Object.create(null);
    header.forEach((name, k) => {
      value[name] = fields[k];
    });
    rows.push({ line: rowLine, value });
  }
  if (header === undefined) throw dataError(DATA_ERROR_CODES.EMPTY, { file, line: 1 }, 'no header row');
  return rows;
}

function countNewlines(text: string, from: number, to: number): number {
  let count = 0;
  for (let k = text.indexOf('\n', from); k !== -1 && k < to; k = text.indexOf('\n', k + 1)) count++;
  return count;
}

function checkHeader(fields: string[], file: string, line: number): string[] {
  const seen = new Set<string>();
  for (const [k, raw] of fields.entries()) {
    const name = raw.trim();
    if (name === '') throw dataError(DATA_ERROR_CODES.CSV, { file, line }, `header column ${k + 1} is empty`);
    if (seen.has(name))
      throw dataError(DATA_ERROR_CODES.CSV, { file, line }, `duplicate header column ${JSON.stringify(name)}`);
    seen.add(name);
  }
  return fields.map((f) => f.trim());
}
