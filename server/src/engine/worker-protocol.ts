import { PeftkitError } from '@peftkit/core';
import type { Engine, EngineStats, ErrorData, GenerateHandlers, TokenOut } from './types.ts';

/** Engine methods that return a promise: the ones that cross the worker boundary (`stats()` is answered locally). */
export type EngineMethod = {
  [K in keyof Engine]: Engine[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof Engine];

/**
 * How a method travels. `handlers`: the index of its GenerateHandlers parameter — functions and an AbortSignal,
 * which cannot be posted: the proxy keeps them and turns them into token / cancel messages instead.
 */
export interface RpcSpec {
  readonly handlers?: number;
}

/**
 * The one RPC definition: the worker's dispatcher and WorkerEngine's proxy methods are derived from it, so a new
 * engine method is added to the Engine interface and here (the `satisfies` fails to compile until it is).
 */
export const ENGINE_RPC = {
  info: {},
  generate: { handlers: 1 },
  classify: {},
  loadAdapter: {},
  unloadAdapter: {},
  listAdapters: {},
  health: {},
  close: {},
} as const satisfies { readonly [K in EngineMethod]: RpcSpec };

export const ENGINE_METHODS = Object.keys(ENGINE_RPC) as EngineMethod[];

/** The arguments of a method as posted: a handlers parameter travels as undefined. */
export type WireArgs<K extends EngineMethod> = {
  [I in keyof Parameters<Engine[K]>]: Parameters<Engine[K]>[I] extends GenerateHandlers | undefined
    ? undefined
    : Parameters<Engine[K]>[I];
};

/** Messages between the HTTP thread and the engine worker (structured-clone data only). */
export type ToWorker =
  | { [K in EngineMethod]: { type: 'call'; id: number; method: K; args: WireArgs<K> } }[EngineMethod]
  | { type: 'cancel'; id: number }
  /** WorkerEngine.kill(): the worker exits as if it had crashed (restart drills, tests). */
  | { type: 'exit' };

export type FromWorker =
  | { type: 'ready'; stats: EngineStats }
  | { type: 'failed'; error: ErrorData }
  | { type: 'result'; id: number; value: unknown; stats: EngineStats }
  | { type: 'error'; id: number; error: ErrorData; stats: EngineStats }
  | { type: 'token'; id: number; token: TokenOut }
  | { type: 'stats'; stats: EngineStats };

export function toErrorData(error: unknown): ErrorData {
  if (error instanceof PeftkitError) {
    const message = error.message.startsWith(`${error.code}: `)
      ? error.message.slice(error.code.length + 2)
      : error.message;
    return {
      code: error.code,
      message,
      details: JSON.parse(JSON.stringify(error.details ?? {})) as Record<string, unknown>,
    };
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
