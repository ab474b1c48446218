import { PeftkitError, type Tokenizer, type WorkerPort, type WorkerSpawner } from '@peftkit/core';
import { loadTokenizer } from '@peftkit/models';
import { checkPromptBytes, checkPromptTokens, type InputLimits } from './input-limits.ts';
import { DEFAULT_DRAIN_TIMEOUT_MS, type EngineOptions } from './options.ts';
import { PendingCalls, splitHandlers, within } from './worker-calls.ts';
import { ENGINE_METHODS, type EngineMethod, type FromWorker, fromErrorData, type ToWorker } from './worker-protocol.ts';
import {
  type AdapterInfo,
  EMPTY_ENGINE_STATS,
  type Engine,
  type EngineHealth,
  type EngineStats,
  type GenerateHandlers,
  type GenerateJob,
  type GenerateOutput,
  type LoadAdapterOptions,
} from './types.ts';

/** An adapter loaded through this engine: reloaded (its latest source) into a restarted worker. */
interface Restorable {
  path: string;
  pin: boolean;
  version: number;
}

const RESTART_ATTEMPTS = 3;
const HEALTH_TIMEOUT_MS = 5_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The proxy methods, one per ENGINE_RPC entry, installed on the prototype by the class's static block. */
type RemoteMethods = Pick<Engine, EngineMethod>;
export interface WorkerEngine extends RemoteMethods {}

/**
 * The engine in a worker thread, so tensor work never blocks the HTTP thread. Calls are messages; tokens stream
 * back as messages; `stats()` answers from the latest snapshot the worker pushed, without a round trip. Prompts are
 * size-checked and tokenized here (D5). A worker that dies fails its in-flight calls with PEFTKIT_E_ENGINE_DEAD
 * (503), is restarted with its adapters, and calls made meanwhile wait for the new one (D2).
 */
/* biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the merged interface declares the proxies the static
   block installs. */
export class WorkerEngine implements Engine {
  readonly #options: EngineOptions;
  readonly #spawner: WorkerSpawner;
  #worker!: WorkerPort;
  readonly #dying = new WeakSet<WorkerPort>();
  readonly #calls = new PendingCalls();
  /** Workers `kill` stopped: a result they post while exiting would otherwise still answer a call. */
  readonly #killed = new WeakSet<WorkerPort>();
  readonly #adapters = new Map<string, Restorable>();
  #stats: EngineStats = EMPTY_ENGINE_STATS;
  #closed: Promise<void> | null = null;
  #terminated = false;
  /** Set when a restart gave up: every later call fails fast with it. */
  #dead: PeftkitError | null = null;
  #restarting: Promise<void> | null = null;
  #restarts = 0;
  #tokenizer: Tokenizer | null = null;
  #limits: InputLimits | null = null;

  private constructor(options: EngineOptions, spawner: WorkerSpawner) {
    this.#options = options;
    this.#spawner = spawner;
  }

  // One proxy per RPC method (a new engine method needs no code here); methods written out below win.
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

  #remote(method: EngineMethod, args: unknown[]): Promise<unknown> {
    const { wire, handlers } = splitHandlers(method, args);
    return this.#call(method, wire, handlers);
  }

  /** Spawns worker-main.ts with the platform's WorkerSpawner; `options.composition` tells the worker how to compose. */
  static async create(options: EngineOptions, spawner: WorkerSpawner): Promise<WorkerEngine> {
    if (options.composition === undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_ENGINE_COMPOSITION',
        'a worker engine needs EngineOptions.composition (a module URL exporting createEngineKernel)',
        {},
      );
    }
    const engine = new WorkerEngine(options, spawner);
    engine.#worker = await engine.#spawn(options);
    for (const name of options.preload ?? []) engine.#adapters.set(name, { path: name, pin: true, version: 0 });
    const info = await engine.info();
    engine.#limits = { maxInputTokens: info.maxInputTokens, maxInputBytes: info.maxInputBytes };
    // The same tokenizer files the worker read; without one the worker tokenizes (and checks) itself.
    engine.#tokenizer = await loadTokenizer(info.modelDir).catch(() => null);
    return engine;
  }

  async #spawn(options: EngineOptions): Promise<WorkerPort> {
    // Beside this module: worker-main.ts in the sources, worker-main.js in dist/ (tsc rewrites imports, not URLs).
    const worker = await this.#spawner.spawn(
      new URL(import.meta.url.endsWith('.ts') ? './worker-main.ts' : './worker-main.js', import.meta.url),
    );
    await new Promise<void>((resolve, reject) => {
      worker.onMessage((raw) => {
        const message = raw as FromWorker;
        if (message.type === 'ready') {
          this.#stats = message.stats;
          resolve();
        } else if (message.type === 'failed') reject(fromErrorData(message.error));
        else this.#receive(worker, message);
      });
      worker.onExit((reason) => {
        reject(this.#deadError(reason));
        this.#died(worker, reason);
      });
      worker.post({ type: 'init', options });
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    return worker;
  }

  #deadError(reason: string): PeftkitError {
    return new PeftkitError('PEFTKIT_E_ENGINE_DEAD', `the engine worker stopped (${reason}); it is being restarted`, {
      reason,
    });
  }

  #receive(worker: WorkerPort, message: FromWorker): void {
    // A killed worker is dead to its callers at once, as after a crash: what it still sends settles nothing.
    if (this.#killed.has(worker)) return;
    if (message.type === 'stats') {
      if (worker === this.#worker) this.#stats = message.stats;
      return;
    }
    const stats = this.#calls.receive(worker, message);
    if (stats !== null) this.#stats = stats;
  }

  /** A worker died (crash, heap limit, kill): fail what it held; if it was the serving one, restart it. */
  #died(worker: WorkerPort, reason: string): void {
    if (this.#dying.has(worker)) return;
    this.#dying.add(worker);
    this.#calls.failAll(this.#deadError(reason), worker);
    if (worker !== this.#worker || this.#closed || this.#restarting) return;
    console.error(`peftkit server: the engine worker stopped (${reason}); restarting it`);
    this.#restarting = this.#restart().finally(() => {
      this.#restarting = null;
    });
  }

  async #restart(): Promise<void> {
    this.#restarts++;
    let last: unknown = null;
    for (let attempt = 0; attempt < RESTART_ATTEMPTS && !this.#closed; attempt++) {
      if (attempt > 0) await sleep(250 * 2 ** attempt);
      try {
        // Version labels continue the dead worker's numbering, so a label never names two different weights.
        const worker = await this.#spawn({
          ...this.#options,
          preload: [],
          firstAdapterVersion: this.#stats.nextAdapterVersion,
        });
        if (this.#closed) {
          await worker.terminate();
          return;
        }
        this.#worker = worker;
        for (const [name, a] of this.#adapters) {
          const options: LoadAdapterOptions = { path: a.path, pin: a.pin, replace: true };
          await this.#post<AdapterInfo>(worker, 'loadAdapter', [name, options]).then(
            (info) => this.#adapters.set(name, { ...a, version: info.version }),
            (error: unknown) =>
              console.warn(`peftkit server: adapter '${name}' not restored after the restart: ${String(error)}`),
          );
        }
        if (this.#dying.has(worker)) throw this.#deadError('died while restarting');
        return;
      } catch (error) {
        last = error;
      }
    }
    this.#dead = new PeftkitError(
      'PEFTKIT_E_ENGINE_DEAD',
      `the engine worker could not be restarted: ${String(last)}`,
      {},
    );
    console.error(`peftkit server: ${this.#dead.message}`);
  }

  async #call<T>(method: EngineMethod, args: unknown[], handlers: GenerateHandlers = {}): Promise<T> {
    // Calls made while a dead worker is replaced wait for the new one instead of failing.
    while (this.#restarting && !this.#closed) await this.#restarting;
    if (this.#closed && method !== 'close')
      throw new PeftkitError('PEFTKIT_E_SHUTTING_DOWN', 'the server is shutting down', {});
    if (this.#dead) throw this.#dead;
    return this.#post<T>(this.#worker, method, args, handlers);
  }

  #post<T>(worker: WorkerPort, method: EngineMethod, args: unknown[], handlers: GenerateHandlers = {}): Promise<T> {
    if (this.#dying.has(worker)) return Promise.reject(this.#deadError('not running'));
    return this.#calls.post<T>(worker, method, args, handlers);
  }

  /** Checks the prompt's size before tokenizing, tokenizes in this thread, and posts token ids (D5). */
  generate(job: GenerateJob, handlers: GenerateHandlers = {}): Promise<GenerateOutput> {
    const tokenizer = this.#tokenizer;
    const limits = this.#limits;
    if (tokenizer === null || limits === null || job.ids !== undefined || job.prompt === undefined)
      return this.#remote('generate', [job, handlers]) as Promise<GenerateOutput>;
    try {
      checkPromptBytes(job.prompt, limits);
      const ids = tokenizer.encode(job.prompt, { bos: job.addBos ?? tokenizer.bosId !== undefined });
      checkPromptTokens(ids.length, limits);
      const { prompt: _prompt, addBos: _addBos, ...rest } = job;
      return this.#remote('generate', [{ ...rest, ids }, handlers]) as Promise<GenerateOutput>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async loadAdapter(name: string, options: LoadAdapterOptions = {}): Promise<AdapterInfo> {
    const info = await this.#call<AdapterInfo>('loadAdapter', [name, options]);
    // Remembered for a restart; the newest version wins when loads of one name overlap.
    const known = this.#adapters.get(name);
    if (known === undefined || info.version >= known.version)
      this.#adapters.set(name, { path: info.source, pin: info.pinned, version: info.version });
    return info;
  }

  async unloadAdapter(name: string): Promise<void> {
    await this.#call<void>('unloadAdapter', [name]);
    this.#adapters.delete(name);
  }

  async health(): Promise<EngineHealth> {
    const restarts = this.#restarts;
    if (this.#terminated) return { status: 'closed', restarts };
    if (this.#dead) return { status: 'dead', restarts, detail: this.#dead.message };
    if (this.#restarting) return { status: 'degraded', restarts, detail: 'the engine worker is restarting' };
    const answer = await within(
      this.#post<EngineHealth>(this.#worker, 'health', []).catch(() => null),
      HEALTH_TIMEOUT_MS,
      null,
    );
    return answer === null
      ? { status: 'degraded', restarts, detail: 'the engine worker does not answer' }
      : { ...answer, restarts };
  }

  /**
   * Stops the worker as a crash would (operators, tests): its in-flight calls fail with PEFTKIT_E_ENGINE_DEAD and
   * it is restarted. Asks it to exit (a real exit, seen by onExit on Node); terminates it when no exit is reported.
   */
  async kill(): Promise<void> {
    const worker = this.#worker;
    this.#killed.add(worker);
    worker.post({ type: 'exit' } satisfies ToWorker);
    for (let waited = 0; waited < 1_000 && !this.#dying.has(worker); waited += 10) await sleep(10);
    if (this.#dying.has(worker)) return;
    await worker.terminate();
    this.#died(worker, 'killed');
  }

  stats(): EngineStats {
    return { ...this.#stats, engineRestarts: this.#restarts };
  }

  /** Calls posted to the worker and not answered yet (the stats snapshot lags by up to 100 ms). */
  get pendingCalls(): number {
    return this.#calls.size;
  }

  /** Drains the worker for at most drainTimeoutMs (+ a grace period), then terminates it regardless (D15). */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const drainMs = this.#options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
      if (!this.#dead && !this.#dying.has(this.#worker))
        await within(
          this.#post<void>(this.#worker, 'close', []).catch(() => {}),
          drainMs + 2_000,
          undefined,
        );
      this.#calls.failAll(
        new PeftkitError('PEFTKIT_E_SHUTTING_DOWN', 'the server shut down before this request finished', {}),
      );
      this.#dying.add(this.#worker);
      await this.#worker.terminate();
      this.#terminated = true;
    })();
    return this.#closed;
  }
}
