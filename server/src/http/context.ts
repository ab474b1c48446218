import { PeftkitError } from '@peftkit/core';
import { isValidAdapterName } from '../engine/names.ts';
import type {
  Engine,
  EngineInfo,
  GenerateHandlers,
  GenerateJob,
  GenerateOutput,
  TokenOut,
  UnknownAdapter,
} from '../engine/types.ts';
import { HttpFailure, httpError } from './errors.ts';
import type { JobsOptions } from '../jobs/service.ts';
import type { Metrics } from './metrics.ts';

export interface ServerOptions {
  /** Bearer key the admin routes require (PEFTKIT_ADMIN_KEY in the entry points). Unset: admin routes are open. */
  adminKey?: string;
  /** Bearer key inference routes require. Unset: open. */
  apiKey?: string;
  /** What an unknown `model` gets: a 404 `model_not_found` (default, as OpenAI and vLLM answer) or the base model. */
  unknownModel?: 'base' | '404';
  /** `Host` names accepted besides localhost and IP literals (DNS-rebinding defence); '*' accepts any. */
  allowedHosts?: string[];
  /** Browser origins accepted besides loopback ones and the server's own (CSRF defence); '*' accepts any. */
  allowedOrigins?: string[];
  /** CORS headers and preflights for the allowed origins (default off). */
  cors?: boolean;
  /** One JSON line per request on stderr (default off). */
  accessLog?: boolean;
  /** Largest accepted request body (default 1 MiB). */
  bodyLimitBytes?: number;
  /** Per-request deadline (default 120 s); the request is cancelled in the engine when it passes. */
  requestTimeoutMs?: number;
  /** Files and fine-tuning jobs (OpenAI's API): the store and queue the application composes. Unset: no such routes. */
  jobs?: JobsOptions;
}

export interface ServerContext {
  readonly engine: Engine;
  readonly options: Required<Omit<ServerOptions, 'adminKey' | 'apiKey' | 'jobs'>> &
    Pick<ServerOptions, 'adminKey' | 'apiKey'>;
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
    // vLLM / OpenAI answer an unknown model with 404; falling back to the base silently served the wrong model (D9).
    unknownModel: options.unknownModel ?? '404',
    allowedHosts: options.allowedHosts ?? [],
    allowedOrigins: options.allowedOrigins ?? [],
    cors: options.cors ?? false,
    accessLog: options.accessLog ?? false,
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
      // 'team/nested' and the like can never name a loaded adapter: say so instead of falling back (D16).
      if (!isValidAdapterName(model)) {
        const message =
          `'${model.slice(0, 100)}' is not a valid adapter name (1-96 letters, digits, ` +
          `'.', '_', '-'; no '/' or '..')`;
        throw new HttpFailure(httpError(400, 'adapter_name', message, 'model'));
      }
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
      // Time to first token counts from the call (queue wait included), as a client sees it.
      const started = performance.now();
      let last = 0;
      const onToken = (token: TokenOut) => {
        const now = performance.now();
        if (last === 0) metrics.timeToFirstToken.observe((now - started) / 1000);
        else metrics.interTokenLatency.observe((now - last) / 1000);
        last = now;
        handlers.onToken?.(token);
      };
      try {
        // The engine falls back to the base itself (merged adapters never do): one call, no retry round trip.
        const unknownAdapter = job.merged === undefined ? ctx.unknownAdapter : 'error';
        const out = await engine.generate(
          { unknownAdapter, ...job },
          { ...handlers, onToken, signal: controller.signal },
        );
        if (timedOut)
          throw new PeftkitError(
            'PEFTKIT_E_TIMEOUT',
            `the request took longer than ${resolved.requestTimeoutMs} ms and was cancelled`,
            {},
          );
        metrics.observeAdapter(out.adapterVersion, out.ids.length);
        return out;
      } catch (error) {
        throw job.merged === undefined ? asModelNotFound(error, job.adapter) : error;
      } finally {
        clearTimeout(timer);
        handlers.signal?.removeEventListener('abort', onClientAbort);
      }
    },
  };
  return ctx;
}

/** The requested model is unknown to the engine: OpenAI's and vLLM's 404 `model_not_found` on the `model` field. */
export function asModelNotFound(error: unknown, model: string | null): unknown {
  if (model === null || !(error instanceof PeftkitError) || error.code !== 'PEFTKIT_E_ADAPTER_UNKNOWN') return error;
  return new HttpFailure(httpError(404, 'model_not_found', `The model '${model}' does not exist.`, 'model'));
}
