import { PeftkitError } from '@peftkit/core';
import type { EngineOptions } from './local.ts';
import { type FromWorker, fromErrorData, type Port, type ToWorker } from './worker-protocol.ts';
import type {
  AdapterInfo,
  ClassifyJob,
  ClassifyOutput,
  Engine,
  EngineInfo,
  EngineStats,
  GenerateHandlers,
  GenerateJob,
  GenerateOutput,
  LoadAdapterOptions,
} from './types.ts';

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onToken?: GenerateHandlers['onToken'];
}

interface WorkerLike extends Port {
  terminate(): unknown;
}

const EMPTY_STATS: EngineStats = {
  queueDepth: 0,
  running: 0,
  batches: 0,
  batchSizes: {},
  steps: 0,
  tokensGenerated: 0,
  promptTokens: 0,
  adaptersLoaded: 0,
  adapterBytes: 0,
  swaps: 0,
  evictions: 0,
  numTensors: 0,
};

/** Starts worker-main.ts with the runtime's worker API: Web Workers on Deno and Bun, worker_threads on Node. */
async function startWorker(): Promise<WorkerLike> {
  const url = new URL('./worker-main.ts', import.meta.url);
  const scope = globalThis as unknown as {
    Deno?: unknown;
    Bun?: unknown;
    Worker?: new (
      u: URL,
      o: { type: 'module' },
    ) => {
      postMessage(m: unknown): void;
      addEventListener(t: string, l: (e: { data?: unknown; message?: string }) => void): void;
      terminate(): void;
    };
  };
  if ((scope.Deno !== undefined || scope.Bun !== undefined) && scope.Worker) {
    const worker = new scope.Worker(url, { type: 'module' });
    return {
      post: (m) => worker.postMessage(m),
      onMessage: (listener) => {
        worker.addEventListener('message', (e) => listener(e.data));
        worker.addEventListener('error', (e) =>
          listener({ type: 'failed', error: { code: 'PEFTKIT_E_WORKER', message: e.message ?? 'worker error', details: {} } }),
        );
      },
      terminate: () => worker.terminate(),
    };
  }
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(new URL('./worker-node.mjs', import.meta.url));
  worker.unref();
  return {
    post: (m) => worker.postMessage(m),
    onMessage: (listener) => {
      worker.on('message', listener);
      worker.on('error', (e: Error) => listener({ type: 'failed', error: { code: 'PEFTKIT_E_WORKER', message: e.message, details: {} } }));
    },
    terminate: () => worker.terminate(),
  };
}

/**
 * The engine in a worker thread, so tensor work never blocks the HTTP thread. Calls are messages; tokens stream
 * back as messages; `stats()` answers from the latest snapshot the worker pushed, without a round trip.
 */
export class WorkerEngine implements Engine {
  readonly #worker: WorkerLike;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stats: EngineStats = EMPTY_STATS;
  #closed: Promise<void> | null = null;

  private constructor(worker: WorkerLike) {
    this.#worker = worker;
  }

  static async create(options: EngineOptions): Promise<WorkerEngine> {
    const worker = await startWorker();
    const engine = new WorkerEngine(worker);
    await new Promise<void>((resolve, reject) => {
      worker.onMessage((raw) => {
        const message = raw as FromWorker;
        if (message.type === 'ready') {
          engine.#stats = message.stats;
          resolve();
        } else if (message.type === 'failed') {
          const error = fromErrorData(message.error);
          engine.#failAll(error);
          reject(error);
        } else engine.#receive(message);
      });
      worker.post({ type: 'init', options });
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    return engine;
  }

  #receive(message: FromWorker): void {
    if (message.type === 'stats') {
      this.#stats = message.stats;
      return;
    }
    if (message.type === 'token') {
      this.#pending.get(message.id)?.onToken?.(message.token);
      return;
    }
    if (message.type !== 'result' && message.type !== 'error') return;
    this.#stats = message.stats;
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (message.type === 'result') pending.resolve(message.value);
    else pending.reject(fromErrorData(message.error));
  }

  #failAll(error: unknown): void {
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }

  #call<T>(method: (ToWorker & { type: 'call' })['method'], args: unknown[], handlers: GenerateHandlers = {}): Promise<T> {
    if (this.#closed && method !== 'close') return Promise.reject(new PeftkitError('PEFTKIT_E_SHUTTING_DOWN', 'the server is shutting down', {}));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { resolve: resolve as (v: unknown) => void, reject };
      if (handlers.onToken) pending.onToken = handlers.onToken;
      this.#pending.set(id, pending);
      const signal = handlers.signal;
      if (signal) {
        if (signal.aborted) this.#worker.post({ type: 'cancel', id });
        else signal.addEventListener('abort', () => this.#worker.post({ type: 'cancel', id } satisfies ToWorker), { once: true });
      }
      this.#worker.post({ type: 'call', id, method, args } satisfies ToWorker);
    });
  }

  info(): Promise<EngineInfo> {
    return this.#call('info', []);
  }

  generate(job: GenerateJob, handlers: GenerateHandlers = {}): Promise<GenerateOutput> {
    return this.#call('generate', [job], handlers);
  }

  classify(job: ClassifyJob): Promise<ClassifyOutput> {
    return this.#call('classify', [job]);
  }

  loadAdapter(name: string, options: LoadAdapterOptions = {}): Promise<AdapterInfo> {
    return this.#call('loadAdapter', [name, options]);
  }

  unloadAdapter(name: string): Promise<void> {
    return this.#call('unloadAdapter', [name]);
  }

  listAdapters(): Promise<AdapterInfo[]> {
    return this.#call('listAdapters', []);
  }

  stats(): EngineStats {
    return this.#stats;
  }

  close(): Promise<void> {
    this.#closed ??= this.#call<void>('close', []).finally(async () => {
      await this.#worker.terminate();
    });
    return this.#closed;
  }
}
