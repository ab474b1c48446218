import { PeftkitError } from '@peftkit/core';
import type { EngineStats, ErrorData, TokenOut } from './types.ts';

/** Messages between the HTTP thread and the engine worker (structured-clone data only). */
export type ToWorker =
  | { type: 'call'; id: number; method: 'info' | 'generate' | 'classify' | 'loadAdapter' | 'unloadAdapter' | 'listAdapters' | 'close'; args: unknown[] }
  | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'ready'; stats: EngineStats }
  | { type: 'failed'; error: ErrorData }
  | { type: 'result'; id: number; value: unknown; stats: EngineStats }
  | { type: 'error'; id: number; error: ErrorData; stats: EngineStats }
  | { type: 'token'; id: number; token: TokenOut }
  | { type: 'stats'; stats: EngineStats };

export function toErrorData(error: unknown): ErrorData {
  if (error instanceof PeftkitError) {
    const message = error.message.startsWith(`${error.code}: `) ? error.message.slice(error.code.length + 2) : error.message;
    return { code: error.code, message, details: JSON.parse(JSON.stringify(error.details ?? {})) as Record<string, unknown> };
  }
  return { code: 'PEFTKIT_E_INTERNAL', message: error instanceof Error ? error.message : String(error), details: {} };
}

export function fromErrorData(data: ErrorData): PeftkitError {
  return new PeftkitError(data.code, data.message, data.details);
}

/** The minimal surface shared by node:worker_threads workers and Web Workers (Deno, Bun). */
export interface Port {
  post(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
}
