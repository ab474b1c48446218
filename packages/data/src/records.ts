import { DATA_ERROR_CODES, type SourceLocation, dataError } from './errors.ts';
import type { RawRow } from './jsonl.ts';

/** The four record shapes peftkit trains on. */
export const DATA_FORMATS = ['text', 'completion', 'chat', 'classification'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

/** A validated record of one of the four shapes, with where it came from. */
export type DataRecord =
  | { readonly format: 'text'; readonly text: string; readonly source: SourceLocation }
  | {
      readonly format: 'completion';
      readonly prompt: string;
      readonly completion: string;
      readonly source: SourceLocation;
    }
  | { readonly format: 'chat'; readonly messages: readonly ChatMessage[]; readonly source: SourceLocation }
  | {
      readonly format: 'classification';
      readonly text: string;
      readonly label: string | number;
      readonly source: SourceLocation;
    };

/**
 * The format a record's fields imply: `messages` → chat; `prompt`+`completion` → completion; `text`+`label` →
 * classification; `text` → text. Undefined when none fits. Extra fields are ignored.
 */
export function detectFormat(value: Readonly<Record<string, unknown>>): DataFormat | undefined {
  const has = (key: string): boolean => Object.hasOwn(value, key);
  if (has('messages')) return 'chat';
  if (has('prompt') && has('completion')) return 'completion';
  if (has('text') && has('label')) return 'classification';
  if (has('text')) return 'text';
  return undefined;
}

function stringField(value: Readonly<Record<string, unknown>>, key: string, where: SourceLocation): string {
  const field = value[key];
  if (!Object.hasOwn(value, key))
    throw dataError(DATA_ERROR_CODES.FIELD, where, `missing field "${key}"`, { field: key });
  if (typeof field !== 'string')
    throw dataError(DATA_ERROR_CODES.FIELD, where, `field "${key}" must be a string`, { field: key });
  return field;
}

function messagesField(value: Readonly<Record<string, unknown>>, where: SourceLocation): ChatMessage[] {
  if (!Object.hasOwn(value, 'messages'))
    throw dataError(DATA_ERROR_CODES.FIELD, where, 'missing field "messages"', { field: 'messages' });
  let field = value.messages;
  // CSV cells carry the conversation as JSON text.
  if (typeof field === 'string') {
    try {
      field = JSON.parse(field);
    } catch (cause) {
      throw dataError(
        DATA_ERROR_CODES.FIELD,
        where,
        'field "messages" is a string but not JSON',
        { field: 'messages' },
        cause,
      );
    }
  }
  if (!Array.isArray(field) || field.length === 0) {
    throw dataError(DATA_ERROR_CODES.FIELD, where, 'field "messages" must be a non-empty array of {role, content}', {
      field: 'messages',
    });
  }
  return field.map((m: unknown, k) => {
    const message = m as Record<string, unknown> | null;
    if (
      message === null ||
      typeof message !== 'object' ||
      typeof message.role !== 'string' ||
      typeof message.content !== 'string'
    ) {
      throw dataError(DATA_ERROR_CODES.FIELD, where, `messages[${k}] must be {role: string, content: string}`, {
        field: 'messages',
        index: k,
      });
    }
    return { role: message.role, content: message.content };
  });
}

function labelField(value: Readonly<Record<string, unknown>>, where: SourceLocation): string | number {
  const label = value.label;
  if (typeof label === 'string' || (typeof label === 'number' && Number.isInteger(label))) return label;
  if (!Object.hasOwn(value, 'label'))
    throw dataError(DATA_ERROR_CODES.FIELD, where, 'missing field "label"', { field: 'label' });
  throw dataError(DATA_ERROR_CODES.FIELD, where, 'field "label" must be a string or an integer', { field: 'label' });
}

/** Validates one row as `format` (a coded error naming file and line when a field is missing or mistyped). */
export function toRecord(row: RawRow, format: DataFormat, file: string): DataRecord {
  const source = { file, line: row.line };
  const v = row.value;
  switch (format) {
    case 'text':
      return { format, text: stringField(v, 'text', source), source };
    case 'completion':
      return {
        format,
        prompt: stringField(v, 'prompt', source),
        completion: stringField(v, 'completion', source),
        source,
      };
    case 'chat':
      return { format, messages: messagesField(v, source), source };
    case 'classification':
      return { format, text: stringField(v, 'text', source), label: labelField(v, source), source };
  }
}

/** Validates all rows; the format is `override` or detected from the first row, and every row must fit it. */
export function toRecords(
  rows: readonly RawRow[],
  file: string,
  override?: DataFormat,
): { format: DataFormat; records: DataRecord[] } {
  const first = rows[0];
  if (first === undefined) throw dataError(DATA_ERROR_CODES.EMPTY, { file, line: 1 }, 'the file holds no records');
  const format = override ?? detectFormat(first.value);
  if (format === undefined) {
    throw dataError(
      DATA_ERROR_CODES.FORMAT,
      { file, line: first.line },
      `cannot detect the format from fields [${Object.keys(first.value).join(', ')}]; expected {text}, ` +
        '{prompt, completion}, {messages} or {text, label}',
    );
  }
  return { format, records: rows.map((row) => toRecord(row, format, file)) };
}
