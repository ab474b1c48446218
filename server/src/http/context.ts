import { PeftkitError } from '@peftkit/core';
import type { Engine, EngineInfo, GenerateHandlers, GenerateJob, GenerateOutput, UnknownAdapter } from '../engine/types.ts';
import type { Metrics } from './metrics.ts';

export interface ServerOptions {
  /** Bearer key the admin routes require (PEFTKIT_ADMIN_KEY in the entry points). Unset: admin routes are open. */
  adminKey?: string;
  /** Bearer key inference routes require. Unset: open. */
  apiKey?: string;
  /** What an unknown `model` gets: the base model (default, as vLLM/HF clients expect) or a 404. */
  unknownModel?: 'base' | '404';
  /** Largest accepted request body (default 1 MiB). */
  bodyLimitBytes?: number;
  /** Per-request deadline (default 120 s); the request is cancelled in the engine when it passes. */
  requestTimeoutMs?: number;
}

export interface ServerContext {
  readonly engine: Engine;
  readonly options: Required<Omit<ServerOptions, 'adminKey' | 'apiKey'>> & Pick<ServerOptions, 'adminKey' | 'apiKey'>;
  readonly metrics: Metrics;
  readonly state: { draining: boolean; inFlight: number };
  info(): Promise<EngineInfo>;
  /** `model` field → adapter name (null = base). URL-like and empty names mean the base. */
  adapterFor(model: string | null | undefined, base: string): string | null;
  /** What an unknown adapter gets in the engine, from `unknownModel`. */
  readonly unknownAdapter: UnknownAdapter;
  /** Runs a generation with the deadline and the client's abort signal; unknown adapters fall back to the base. */
  generate(job: GenerateJob, handlers: GenerateHandlers): Promise<GenerateOutput>;
}

export function createContext(engine: Engine, options: ServerOptions, metrics: Metrics): ServerContext {
  const resolved = {
    unknownModel: options.unknownModel ?? 'base',
    bodyLimitBytes: options.bodyLimitBytes ?? 2 ** 20,
    requestTimeoutMs: options.requestTimeoutMs ?? 120_000,
    ...(options.adminKey ? { adminKey: options.adminKey } : {}),
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
  };
  let info: Promise<EngineInfo> | null = null;
  const ctx: ServerContext = {
    engine,
    options: resolved,
    metrics,
    state: { draining: false, inFlight: 0 },
    unknownAdapter: resolved.unknownModel === '404' ? 'error' : 'base',
    info: () => {
      info ??= engine.info();
      return info;
    },
    adapterFor(model, base) {
      if (model === null || model === undefined || model === '' || model === base) return null;
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(model)) return null;
      return model;
    },
    async generate(job, handlers) {
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, resolved.requestTimeoutMs);
      const onClientAbort = () => controller.abort();
      handlers.signal?.addEventListener('abort', onClientAbort, { once: true });
      try {
        // The engine falls back to the base itself (merged adapters never do): one call, no retry round trip.
        const unknownAdapter = job.merged === undefined ? ctx.unknownAdapter : 'error';
        const out = await engine.generate({ unknownAdapter, ...job }, { ...handlers, signal: controller.signal });
        if (timedOut) throw new PeftkitError('PEFTKIT_E_TIMEOUT', `the request took longer than ${resolved.requestTimeoutMs} ms and was cancelled`, {});
        return out;
      } finally {
        clearTimeout(timer);
        handlers.signal?.removeEventListener('abort', onClientAbort);
      }
    },
  };
  return ctx;
}
