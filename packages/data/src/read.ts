import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseCsv } from './csv.ts';
import { DATA_ERROR_CODES, dataError } from './errors.ts';
import { parseJsonl, type RawRow } from './jsonl.ts';
import { type DataFormat, type DataRecord, toRecords } from './records.ts';

export type DataFileType = 'jsonl' | 'csv';

export interface ReadDataOptions {
  /** Record shape; detected from the first record's fields when omitted. */
  readonly format?: DataFormat | undefined;
  /** File syntax; from the extension when omitted (.jsonl/.ndjson/.json → jsonl, .csv → csv, .tsv → csv with tabs). */
  readonly fileType?: DataFileType | undefined;
  /** CSV delimiter (default ',' or tab for .tsv). */
  readonly delimiter?: string | undefined;
}

export interface DataFile {
  readonly file: string;
  readonly format: DataFormat;
  readonly records: DataRecord[];
}

function fileTypeOf(file: string): { type: DataFileType; delimiter?: string } | undefined {
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return { type: 'jsonl' };
  if (ext === '.csv') return { type: 'csv' };
  if (ext === '.tsv') return { type: 'csv', delimiter: '\t' };
  return undefined;
}

/** Parses file contents already in memory (UTF-8 text) into validated records. */
export function parseDataText(text: string, file: string, options: ReadDataOptions = {}): DataFile {
  const byName = fileTypeOf(file);
  const type = options.fileType ?? byName?.type;
  if (type === undefined) {
    throw dataError(
      DATA_ERROR_CODES.FORMAT,
      undefined,
      `${file}: unknown data file type; use .jsonl or .csv, or pass fileType`,
      { file },
    );
  }
  const delimiter = options.delimiter ?? byName?.delimiter;
  const rows: RawRow[] =
    type === 'jsonl' ? parseJsonl(text, file) : parseCsv(text, file, delimiter === undefined ? {} : { delimiter });
  return { file, ...toRecords(rows, file, options.format) };
}

/** Reads a JSONL or CSV data file into validated records (coded errors name the file and line). */
export async function readDataFile(file: string, options: ReadDataOptions = {}): Promise<DataFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    throw dataError(DATA_ERROR_CODES.READ, undefined, `cannot read ${file}: ${String(cause)}`, { file }, cause);
  }
  if (bytes.byteLength === 0) throw dataError(DATA_ERROR_CODES.EMPTY, { file, line: 1 }, 'the file is empty');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw dataError(DATA_ERROR_CODES.READ, undefined, `${file} is not valid UTF-8`, { file }, cause);
  }
  return parseDataText(text, file, options);
}
