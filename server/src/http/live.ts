import type { GenerateJob, GenerateOutput, TokenOut } from '../engine/types.ts';
import type { Context } from 'hono';
import type { ServerContext } from './context.ts';

export interface LiveGeneration {
  /** Resolves at the first token (or the end); rejects when the request fails before producing anything. */
  readonly started: Promise<void>;
  readonly tokens: AsyncIterable<TokenOut>;
  readonly result: Promise<GenerateOutput>;
  readonly abort: AbortController;
  /** Once `started` resolved: the adapter version producing the stream (for `x-peftkit-adapter-version`), if known. */
  adapterVersion(): string | null;
}

/**
 * A streaming generation whose failures before the first token can still become a proper HTTP error status
 * (429, 404, 400) instead of an event inside an already-started 200 stream.
 */
export function liveGeneration(ctx: ServerContext, job: GenerateJob, clientSignal: AbortSignal): LiveGeneration {
  const abort = new AbortController();
  clientSignal.addEventListener('abort', () => abort.abort(), { once: true });
  const queue: TokenOut[] = [];
  let finished = false;
  let version: string | null = null;
  let wake: (() => void) | null = null;
  let markStarted!: () => void;
  let failStart!: (error: unknown) => void;
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve;
    failStart = reject;
  });
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const result = ctx.generate(job, {
    signal: abort.signal,
    onToken: (token) => {
      version ??= token.adapterVersion ?? null;
      queue.push(token);
      markStarted();
      notify();
    },
  });
  result.then(
    (out) => {
      version ??= out.adapterVersion;
      finished = true;
      markStarted();
      notify();
    },
    (error: unknown) => {
      finished = true;
      failStart(error);
      notify();
    },
  );
  started.catch(() => {});
  const tokens: AsyncIterable<TokenOut> = {
    async *[Symbol.asyncIterator]() {
      while (true) {
        while (queue.length > 0) yield queue.shift() as TokenOut;
        if (finished) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
  return { started, tokens, result, abort, adapterVersion: () => version };
}

/** Streams name their adapter version in a header too (docs/server.md), known once the first token arrived (D8). */
export function streamVersionHeader(c: Context, live: LiveGeneration): void {
  const version = live.adapterVersion();
  if (version !== null) c.header('x-peftkit-adapter-version', version);
}

/** `n` signals that abort together with `signal`, through a single listener on it. */
export function fanOut(signal: AbortSignal, n: number): AbortSignal[] {
  const controllers = Array.from({ length: n }, () => new AbortController());
  const abortAll = () => {
    for (const c of controllers) c.abort();
  };
  if (signal.aborted) abortAll();
  else signal.addEventListener('abort', abortAll, { once: true });
  return controllers.map((c) => c.signal);
}
