import { PeftkitError, errorInfo } from '@peftkit/core';

/** An error as the HTTP layer answers it: status, stable code, OpenAI error `type`, message. */
export interface HttpError {
  status: number;
  code: string;
  type: string;
  message: string;
  param: string | null;
  retryAfterSeconds?: number;
  /** The Allow header of a 405. */
  allow?: string;
}

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  405: 'invalid_request_error',
  415: 'invalid_request_error',
  404: 'not_found_error',
  408: 'timeout_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
  503: 'service_unavailable_error',
};

export function httpError(status: number, code: string, message: string, param: string | null = null): HttpError {
  return {
    status,
    code,
    type: TYPE_BY_STATUS[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error'),
    message,
    param,
  };
}

/** Maps anything thrown while handling a request to an HttpError (internal details stay in the server log). */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof PeftkitError) {
    // Statuses come from the error catalog (@peftkit/core); codes it does not know are 500.
    const status = errorInfo(error.code).http;
    const message = error.message.startsWith(`${error.code}: `)
      ? error.message.slice(error.code.length + 2)
      : error.message;
    const code = error.code.replace(/^PEFTKIT_E_/, '').toLowerCase();
    if (status === 500) {
      // A server fault: its message may name internals (paths, stack details); log it here, answer generically (D14).
      console.error(
        JSON.stringify({ level: 'error', msg: 'peftkit server: request failed', code: error.code, message }),
      );
      return httpError(500, code, 'internal server error (logged on the server)');
    }
    const out = httpError(status, code, message);
    // 429 (queue full) and 503 (engine restarting, shutting down) are worth retrying: say when.
    if (status === 429 || status === 503) out.retryAfterSeconds = 1;
    return out;
  }
  console.error('peftkit server: unexpected error', error);
  return httpError(500, 'internal_error', 'internal server error');
}

/** OpenAI's error body. */
export function openAiBody(e: HttpError): {
  error: { message: string; type: string; param: string | null; code: string };
} {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

/** LoRAX / TGI error body. */
export function loraxBody(e: HttpError): { error: string; error_type: string } {
  return { error: e.message, error_type: e.code };
}

export class HttpFailure extends Error {
  readonly http: HttpError;
  constructor(http: HttpError) {
    super(http.message);
    this.http = http;
  }
}
