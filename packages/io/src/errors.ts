/**
 * Every error peftkit throws on purpose is a PeftkitError with a stable `code`.
 * Codes are part of the public API: tests and HTTP mappings assert them, messages may change.
 */
export class PeftkitError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'PeftkitError';
    this.code = code;
    this.details = details;
  }
}

export function isPeftkitError(value: unknown, code?: string): value is PeftkitError {
  return value instanceof PeftkitError && (code === undefined || value.code === code);
}
