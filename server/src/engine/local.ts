import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { type AdapterManager, type Kernel, PeftkitError } from '@peftkit/core';
import { type CausalLanguageModel, type LoadedModelGraph, loadModel } from '@peftkit/models';
import type { Tokenizer } from '@peftkit/core';
import { listAdapterDirs } from './adapter-files.ts';
import { AdapterCache, type Lease } from './cache.ts';
import { checkPromptBytes, checkPromptTokens, type InputLimits, inputLimits } from './input-limits.ts';
import { type EngineKernelFactory, engineKernelFactory } from './compose.ts';
import { adapterCacheOptions, DEFAULT_DRAIN_TIMEOUT_MS, type EngineOptions, schedulerOptions } from './options.ts';
import { Scheduler } from './scheduler.ts';
import type {
  AdapterInfo,
  ClassifyJob,
  ClassifyOutput,
  Engine,
  EngineHealth,
  EngineInfo,
  EngineStats,
  GenerateHandlers,
  GenerateJob,
  GenerateOutput,
  LoadAdapterOptions,
  UnknownAdapter,
} from './types.ts';

export type { EngineOptions } from './options.ts';

interface ModelParts {
  kernel: Kernel;
  model: LoadedModelGraph;
  tokenizer: Tokenizer;
  manager: AdapterManager;
  info: EngineInfo;
}

const tokenString = (value: unknown): string | null =>
  typeof value === 'string'
    ? value
    : typeof (value as { content?: unknown })?.content === 'string'
      ? (value as { content: string }).content
      : null;

async function readTokenizerConfig(dir: string): Promise<Record<string, unknown>> {
  try {
    const value = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as unknown;
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The engine in the calling thread: used by tests, by createApp users, and inside the worker. */
export class LocalEngine implements Engine {
  readonly #parts: ModelParts;
  readonly #cache: AdapterCache;
  readonly #scheduler: Scheduler | null;
  readonly #root: string;
  readonly #limits: InputLimits;
  readonly #drainTimeoutMs: number;
  #closed = false;
  /** Set when close() finished; while it drains, the engine is still alive (health 'ok'). */
  #disposed = false;
  readonly #inFlight = new Set<Promise<unknown>>();

  private constructor(parts: ModelParts, options: EngineOptions) {
    this.#parts = parts;
    this.#root = options.adapterRoot;
    this.#limits = { maxInputTokens: parts.info.maxInputTokens, maxInputBytes: parts.info.maxInputBytes };
    this.#drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.#cache = new AdapterCache(parts.manager, parts.kernel.tf, adapterCacheOptions(options));
    this.#scheduler =
      parts.model.task === 'causal-lm'
        ? new Scheduler(parts.model as unknown as CausalLanguageModel, parts.tokenizer, schedulerOptions(options))
        : null;
  }

  static async create(options: EngineOptions, factory?: EngineKernelFactory): Promise<LocalEngine> {
    const createKernel = await engineKernelFactory(options.composition, factory);
    const kernel = await createKernel({
      ...(options.backend ? { backend: options.backend } : {}),
      ...(options.plugins ? { plugins: options.plugins } : {}),
      logger: { warn: (m) => console.warn(m), info() {} },
    });
    try {
      const { model, tokenizer } = await loadModel(
        kernel.tf,
        options.modelDir,
        options.task ? { task: options.task } : {},
      );
      if (tokenizer === null) {
        model.dispose();
        throw new PeftkitError('PEFTKIT_E_TOKENIZER_NOT_FOUND', `no tokenizer in '${options.modelDir}'`, {
          dir: options.modelDir,
        });
      }
      const tokConfig = await readTokenizerConfig(options.modelDir);
      const info: EngineInfo = {
        baseModel: options.baseModelName ?? basename(resolve(options.modelDir)),
        task: model.task,
        labels: model.labels,
        chatTemplate: typeof tokConfig.chat_template === 'string' ? tokConfig.chat_template : null,
        bosToken: tokenString(tokConfig.bos_token),
        eosToken: tokenString(tokConfig.eos_token),
        maxPositions: model.dims.maxPositions,
        ...inputLimits(model.dims.maxPositions, options),
        modelDir: options.modelDir,
        available: [],
      };
      const manager = kernel.adapters(model, { tokenizer });
      const engine = new LocalEngine({ kernel, model, tokenizer, manager, info }, options);
      for (const name of options.preload ?? []) await engine.loadAdapter(name, { pin: true });
      return engine;
    } catch (error) {
      await kernel.dispose();
      throw error;
    }
  }

  async info(): Promise<EngineInfo> {
    // Only directories holding an adapter config (D16).
    const available = await listAdapterDirs(this.#root);
    // The root was just listed: let names that appeared since be probed again.
    this.#cache.forgetMissing();
    return { ...this.#parts.info, available };
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise);
    const done = () => this.#inFlight.delete(promise);
    promise.then(done, done);
    return promise;
  }

  #assertOpen(): void {
    if (this.#closed) throw new PeftkitError('PEFTKIT_E_SHUTTING_DOWN', 'the server is shutting down', {});
  }

  /** The adapter's lease, or null for the base: also when the name is unknown and the job asks for the base then. */
  async #lease(
    adapter: string | null,
    merged: GenerateJob['merged'],
    unknown: UnknownAdapter = 'error',
  ): Promise<Lease | null> {
    if (merged) return this.#cache.acquireMerged(merged);
    if (adapter === null) return null;
    try {
      return await this.#cache.acquire(adapter);
    } catch (error) {
      if (unknown === 'base' && error instanceof PeftkitError && error.code === 'PEFTKIT_E_ADAPTER_UNKNOWN')
        return null;
      throw error;
    }
  }

  generate(job: GenerateJob, handlers: GenerateHandlers = {}): Promise<GenerateOutput> {
    this.#assertOpen();
    return this.#track(this.#generate(job, handlers));
  }

  async #generate(job: GenerateJob, handlers: GenerateHandlers): Promise<GenerateOutput> {
    const scheduler = this.#scheduler;
    if (scheduler === null)
      throw new PeftkitError('PEFTKIT_E_MODEL_TASK', 'this model classifies; use /v1/classify', {});
    const { tokenizer } = this.#parts;
    // Size checks before tokenizing: an oversized prompt costs nothing (D5).
    if (job.ids === undefined) checkPromptBytes(job.prompt ?? '', this.#limits);
    const ids = job.ids ?? tokenizer.encode(job.prompt ?? '', { bos: job.addBos ?? tokenizer.bosId !== undefined });
    checkPromptTokens(ids.length, this.#limits);
    if (ids.length === 0) throw new PeftkitError('PEFTKIT_E_INPUT', 'the prompt is empty', {});
    const vocab = this.#parts.model.dims.vocabSize;
    if (ids.some((id) => !Number.isInteger(id) || id < 0 || id >= vocab)) {
      throw new PeftkitError('PEFTKIT_E_INPUT', `prompt token ids must be integers in [0, ${vocab})`, {});
    }
    const lease = await this.#lease(job.adapter, job.merged, job.unknownAdapter);
    try {
      return await scheduler.submit({
        ids,
        adapter: lease?.internal ?? null,
        adapterLabel: lease?.label ?? 'base',
        mixedBatch: lease?.mixedBatch ?? true,
        params: job.params,
        handlers,
      });
    } finally {
      lease?.release();
    }
  }

  classify(job: ClassifyJob): Promise<ClassifyOutput> {
    this.#assertOpen();
    return this.#track(this.#classify(job));
  }

  async #classify(job: ClassifyJob): Promise<ClassifyOutput> {
    const { model, tokenizer, kernel } = this.#parts;
    if (model.task !== 'seq-cls')
      throw new PeftkitError('PEFTKIT_E_MODEL_TASK', 'this model generates text; it has no classification head', {});
    const lease = await this.#lease(job.adapter, undefined, job.unknownAdapter);
    try {
      const tf = kernel.tf;
      const probs: number[][] = [];
      let promptTokens = 0;
      // One forward per input: no padding, and classification requests are short.
      for (const text of job.inputs) checkPromptBytes(text, this.#limits);
      for (const text of job.inputs) {
        const ids = tokenizer.encode(text, { bos: tokenizer.bosId !== undefined });
        checkPromptTokens(ids.length, this.#limits);
        promptTokens += ids.length;
        const row = tf.tidy(() => {
          const options = lease ? { selection: { active: [lease.internal] } } : {};
          return tf.softmax(model.classify({ ids: [ids] }, options)).dataSync();
        });
        probs.push(Array.from(row));
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
      }
      return { labels: model.labels ?? [], probs, promptTokens, adapterVersion: lease?.label ?? 'base' };
    } finally {
      lease?.release();
    }
  }

  loadAdapter(name: string, options: LoadAdapterOptions = {}): Promise<AdapterInfo> {
    this.#assertOpen();
    return this.#cache.load(name, options);
  }

  async unloadAdapter(name: string): Promise<void> {
    this.#cache.unload(name);
  }

  async listAdapters(): Promise<AdapterInfo[]> {
    return this.#cache.list();
  }

  stats(): EngineStats {
    const s = this.#scheduler?.stats;
    return {
      queueDepth: this.#scheduler?.queueDepth ?? 0,
      running: this.#inFlight.size,
      batches: s?.batches ?? 0,
      batchSizes: { ...(s?.batchSizes ?? {}) },
      steps: s?.steps ?? 0,
      tokensGenerated: s?.tokensGenerated ?? 0,
      promptTokens: s?.promptTokens ?? 0,
      adaptersLoaded: this.#cache.loadedCount,
      adapterBytes: this.#cache.totalBytes,
      swaps: this.#cache.swaps,
      evictions: this.#cache.evictions,
      numTensors: this.#parts.kernel.tf.memory().numTensors,
      nextAdapterVersion: this.#cache.nextVersion,
      engineRestarts: 0,
    };
  }

  async health(): Promise<EngineHealth> {
    return { status: this.#disposed ? 'closed' : 'ok', restarts: 0 };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Drain, but not forever (D15): past the timeout, what still runs fails with PEFTKIT_E_SHUTTING_DOWN.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), this.#drainTimeoutMs);
    });
    const drained = Promise.allSettled([...this.#inFlight]).then(() => this.#scheduler?.drain());
    if ((await Promise.race([drained, expired])) === 'expired') {
      this.#scheduler?.abortAll(
        new PeftkitError(
          'PEFTKIT_E_SHUTTING_DOWN',
          'the server shut down before this request finished (drain timeout)',
          {},
        ),
      );
      await Promise.allSettled([...this.#inFlight]);
    }
    clearTimeout(timer);
    this.#cache.dispose();
    this.#parts.manager.dispose();
    this.#parts.model.dispose();
    await this.#parts.kernel.dispose();
    this.#disposed = true;
  }
}
