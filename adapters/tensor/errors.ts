/**
 * Error thrown by tensor adapters. Adapters cannot import PeftkitError (core depends on adapters),
 * so this carries the same `code`/`details` fields; core reports or wraps it by code.
 */
export class BackendAdapterError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'BackendAdapterError';
    this.code = code;
    this.details = details;
  }
}
