import { DATA_ERROR_CODES, dataError } from './errors.ts';

/** One parsed row of a data file: a flat-ish object and the physical line it started on. */
export interface RawRow {
  readonly line: number;
  readonly value: Readonly<Record<string, unknown>>;
}

/**
 * Parses JSON Lines: one JSON object per line; blank lines are skipped; a UTF-8 BOM and CRLF endings are accepted.
 * Linear in the input size (one indexOf scan), so 100 MB files are fine.
 */
export function parseJsonl(text: string, file: string): RawRow[] {
  const rows: RawRow[] = [];
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const source = text.slice(start, end);
    if (source.trim() !== '') {
      let value: unknown;
      try {
        value = JSON.parse(source);
      } catch (cause) {
        throw dataError(
          DATA_ERROR_CODES.JSON,
          { file, line },
          `not valid JSON (${(cause as Error).message})`,
          {},
          cause,
        );
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw dataError(DATA_ERROR_CODES.JSON, { file, line }, 'each line must be a JSON object');
      }
      rows.push({ line, value: value as Record<string, unknown> });
    }
    start = end + 1;
    line++;
  }
  return rows;
}
