import { PeftkitError } from '@peftkit/io';

/** Stable error codes of the data loaders (public API: tests and the CLI match on them). */
export const DATA_ERROR_CODES = {
  /** The file cannot be read (missing, permissions, not UTF-8). */
  READ: 'PEFTKIT_E_DATA_READ',
  /** The file holds no records. */
  EMPTY: 'PEFTKIT_E_DATA_EMPTY',
  /** A JSONL line is not valid JSON or not a JSON object. */
  JSON: 'PEFTKIT_E_DATA_JSON',
  /** A CSV row breaks RFC 4180 (unterminated quote, stray quote, wrong field count, bad header). */
  CSV: 'PEFTKIT_E_DATA_CSV',
  /** A record lacks a field its format needs, or a field has the wrong type. */
  FIELD: 'PEFTKIT_E_DATA_FIELD',
  /** The format cannot be detected, or the file type is unknown. */
  FORMAT: 'PEFTKIT_E_DATA_FORMAT',
  /** A classification label is not in the label set. */
  LABEL: 'PEFTKIT_E_DATA_LABEL',
  /** An example is longer than maxLength and truncation is off. */
  TOO_LONG: 'PEFTKIT_E_DATA_TOO_LONG',
  /** The chat template is missing, fails to render, or does not render conversations prefix-consistently. */
  CHAT_TEMPLATE: 'PEFTKIT_E_DATA_CHAT_TEMPLATE',
  /** Invalid data options (config). */
  OPTIONS: 'PEFTKIT_E_DATA_OPTIONS',
} as const;

/** Where a record came from: file and 1-based line of the record's first physical line. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
}

/** A coded error that names the file and line in its message and details. */
export function dataError(
  code: string,
  where: SourceLocation | undefined,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): PeftkitError {
  const prefix = where === undefined ? '' : `${where.file}:${where.line}: `;
  const location = where === undefined ? {} : { file: where.file, line: where.line };
  return new PeftkitError(
    code,
    `${prefix}${message}`,
    { ...location, ...details },
    cause === undefined ? undefined : { cause },
  );
}
