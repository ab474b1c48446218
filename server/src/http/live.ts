import type { GenerateJob, GenerateOutput, TokenOut } from '../engine/types.ts';
import type { ServerContext } from './context.ts';

export interface LiveGeneration {
  /** Resolves at the first token (or the end); rejects when the request fails before producing anything. */
  readonly started: Promise<void>;
  readonly tokens: AsyncIterable<TokenOut>;
  readonly result: Promise<GenerateOutput>;
  readonly abort: AbortController;
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
      queue.push(token);
      markStarted();
      notify();
    },
  });
  result.then(
    () => {
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
  return { started, tokens, result, abort };
}
