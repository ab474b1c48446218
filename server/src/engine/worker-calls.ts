import type { WorkerPort } from '@peftkit/core';
import type { EngineStats, GenerateHandlers } from './types.ts';
import {
  ENGINE_RPC,
  type EngineMethod,
  type FromWorker,
  fromErrorData,
  type RpcSpec,
  type ToWorker,
} from './worker-protocol.ts';

interface Pending {
  /** The worker the call was posted to: its death fails exactly these calls. */
  worker: WorkerPort;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onToken?: GenerateHandlers['onToken'];
}

/**
 * The calls posted to the engine's workers and not answered yet, by id. Each remembers its worker, so a message
 * from a replaced worker never settles a call made to its successor (ids continue across restarts).
 */
export class PendingCalls {
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  /** How many calls are waiting for their answer. */
  get size(): number {
    return this.#pending.size;
  }

  /** Posts a call; its handlers stay here: tokens come back to onToken, an abort becomes a cancel message. */
  post<T>(worker: WorkerPort, method: EngineMethod, args: unknown[], handlers: GenerateHandlers = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { worker, resolve: resolve as (v: unknown) => void, reject };
      if (handlers.onToken) pending.onToken = handlers.onToken;
      this.#pending.set(id, pending);
      const signal = handlers.signal;
      if (signal) {
        if (signal.aborted) worker.post({ type: 'cancel', id });
        else
          signal.addEventListener('abort', () => worker.post({ type: 'cancel', id } satisfies ToWorker), {
            once: true,
          });
      }
      worker.post({ type: 'call', id, method, args } as ToWorker);
    });
  }

  /** Routes a token, result or error from `worker` to its call; the stats a settled call carried, else null. */
  receive(worker: WorkerPort, message: FromWorker): EngineStats | null {
    const pending =
      message.type === 'token' || message.type === 'result' || message.type === 'error'
        ? this.#pending.get(message.id)
        : undefined;
    if (pending === undefined || pending.worker !== worker) return null;
    if (message.type === 'token') {
      pending.onToken?.(message.token);
      return null;
    }
    if (message.type !== 'result' && message.type !== 'error') return null;
    this.#pending.delete(message.id);
    if (message.type === 'result') pending.resolve(message.value);
    else pending.reject(fromErrorData(message.error));
    return message.stats;
  }

  /** Fails the calls posted to `worker`, or every call when no worker is given. */
  failAll(error: unknown, worker?: WorkerPort): void {
    for (const [id, p] of this.#pending) {
      if (worker !== undefined && p.worker !== worker) continue;
      this.#pending.delete(id);
      p.reject(error);
    }
  }
}

/** A handlers argument stays in this thread (token and cancel messages carry it) and travels as undefined. */
export function splitHandlers(method: EngineMethod, args: unknown[]): { wire: unknown[]; handlers: GenerateHandlers } {
  const spec: RpcSpec = ENGINE_RPC[method];
  if (spec.handlers === undefined) return { wire: args, handlers: {} };
  const handlers = (args[spec.handlers] as GenerateHandlers | undefined) ?? {};
  const wire = [...args];
  wire[spec.handlers] = undefined;
  return { wire, handlers };
}

/** Resolves with `promise`, or with `fallback` after `ms` (the timer never outlives the race). */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
