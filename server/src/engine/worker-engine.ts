import { PeftkitError, type WorkerPort, type WorkerSpawner } from '@peftkit/core';
import type { EngineOptions } from './local.ts';
import { ENGINE_METHODS, ENGINE_RPC, type EngineMethod, type FromWorker, fromErrorData, type RpcSpec, type ToWorker } from './worker-protocol.ts';
import type { Engine, EngineStats, GenerateHandlers } from './types.ts';

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onToken?: GenerateHandlers['onToken'];
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

/** The proxy methods, one per ENGINE_RPC entry, installed on the prototype by the class's static block. */
type RemoteMethods = Pick<Engine, EngineMethod>;
export interface WorkerEngine extends RemoteMethods {}

/**
 * The engine in a worker thread, so tensor work never blocks the HTTP thread. Calls are messages; tokens stream
 * back as messages; `stats()` answers from the latest snapshot the worker pushed, without a round trip.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the merged interface declares the proxies the static block installs.
export class WorkerEngine implements Engine {
  readonly #worker: WorkerPort;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stats: EngineStats = EMPTY_STATS;
  #closed: Promise<void> | null = null;
  /** Set when the worker died: every later call fails fast with it instead of waiting forever. */
  #dead: PeftkitError | null = null;

  private constructor(worker: WorkerPort) {
    this.#worker = worker;
  }

  // One proxy per RPC method (a new engine method needs no code here); methods written out below (close) win.
  static {
    for (const method of ENGINE_METHODS) {
      if (Object.hasOwn(WorkerEngine.prototype, method)) continue;
      Object.defineProperty(WorkerEngine.prototype, method, {
        value(this: WorkerEngine, ...args: unknown[]) {
          return this.#remote(method, args);
        },
        writable: true,
        configurable: true,
      });
    }
  }

  /** Posts a call; a handlers argument stays here (token and cancel messages carry it) and travels as undefined. */
  #remote(method: EngineMethod, args: unknown[]): Promise<unknown> {
    const spec: RpcSpec = ENGINE_RPC[method];
    if (spec.handlers === undefined) return this.#call(method, args);
    const handlers = (args[spec.handlers] as GenerateHandlers | undefined) ?? {};
    const wire = [...args];
    wire[spec.handlers] = undefined;
    return this.#call(method, wire, handlers);
  }

  /** Spawns worker-main.ts with the platform's WorkerSpawner; `options.composition` tells the worker how to compose. */
  static async create(options: EngineOptions, spawner: WorkerSpawner): Promise<WorkerEngine> {
    if (options.composition === undefined) {
      throw new PeftkitError('PEFTKIT_E_ENGINE_COMPOSITION', 'a worker engine needs EngineOptions.composition (a module URL exporting createEngineKernel)', {});
    }
    const worker = await spawner.spawn(new URL('./worker-main.ts', import.meta.url));
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
      worker.onExit((reason) => {
        const error = new PeftkitError('PEFTKIT_E_ENGINE_DEAD', `the engine worker stopped: ${reason}`, { reason });
        engine.#dead = error;
        engine.#failAll(error);
        reject(error);
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

  #call<T>(method: EngineMethod, args: unknown[], handlers: GenerateHandlers = {}): Promise<T> {
    if (this.#closed && method !== 'close') return Promise.reject(new PeftkitError('PEFTKIT_E_SHUTTING_DOWN', 'the server is shutting down', {}));
    if (this.#dead) return Promise.reject(this.#dead);
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
      this.#worker.post({ type: 'call', id, method, args } as ToWorker);
    });
  }

  stats(): EngineStats {
    return this.#stats;
  }

  close(): Promise<void> {
    this.#closed ??= (this.#dead ? Promise.resolve() : this.#call<void>('close', [])).finally(async () => {
      await this.#worker.terminate();
    });
    return this.#closed;
  }
}
