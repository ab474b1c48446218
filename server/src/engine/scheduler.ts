import { PeftkitError } from '@peftkit/core';
// BatchGenerator is not re-exported by @peftkit/core's index yet; the server uses it from its module directly.
import { BatchGenerator, type CausalLanguageModel } from '@peftkit/models';
import type { Tokenizer } from '@peftkit/core';
import type { FinishReason, GenerateHandlers, GenerateOutput, SamplingParams } from './types.ts';

/** A request ready to run: tokenized, its adapter version held by a lease. */
export interface ScheduledJob {
  ids: number[];
  /** Internal (versioned) adapter name, or null for the base. */
  adapter: string | null;
  adapterLabel: string;
  /** False when the adapter's method cannot share a forward with other adapters' rows. */
  mixedBatch: boolean;
  params: SamplingParams;
  handlers: GenerateHandlers;
}

export interface SchedulerOptions {
  /** Most rows decoded together across all running batches. */
  maxBatch: number;
  /** How long the first request of an idle server waits for company. */
  batchWindowMs: number;
  /**
   * Most requests waiting beyond the free batch slots; more are refused (HTTP 429). 0: nothing waits for a slot,
   * but requests that fit the free slots are still admitted.
   */
  maxQueue: number;
  /** False: one batch per adapter even for mixed-batch methods (the baseline the bench compares against). */
  mixedBatching?: boolean;
}

interface Waiting {
  job: ScheduledJob;
  resolve(out: GenerateOutput): void;
  reject(error: unknown): void;
}

interface RunningBatch {
  generator: BatchGenerator;
  members: Waiting[];
  maxTokens: number[];
  cancelled: boolean[];
  /** Tokens produced so far: a batch failing before its first token is retried row by row. */
  produced: boolean;
}

/** A sampling seed for an unseeded request: random, so two unseeded requests do not return the same text. */
const randomSeed = () => crypto.getRandomValues(new Uint32Array(1))[0] as number;

export interface SchedulerStats {
  batches: number;
  steps: number;
  batchSizes: Record<string, number>;
  tokensGenerated: number;
  promptTokens: number;
}

const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64];
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Coalesces concurrent generation requests. Waiting requests are admitted at every decode step (so a new request
 * never waits for a long one to finish) as batches of rows with the same sampling settings: rows whose methods
 * support mixed batches share one forward with a per-row adapter selection, other methods get a batch per adapter.
 * Every running batch advances one token per round; the loop yields to the event loop between rounds.
 */
export class Scheduler {
  readonly #model: CausalLanguageModel;
  readonly #tokenizer: Tokenizer;
  readonly #options: SchedulerOptions;
  readonly #waiting: Waiting[] = [];
  readonly #running: RunningBatch[] = [];
  #loop: Promise<void> | null = null;
  readonly stats: SchedulerStats = { batches: 0, steps: 0, batchSizes: {}, tokensGenerated: 0, promptTokens: 0 };

  constructor(model: CausalLanguageModel, tokenizer: Tokenizer, options: SchedulerOptions) {
    this.#model = model;
    this.#tokenizer = tokenizer;
    this.#options = options;
  }

  get queueDepth(): number {
    return this.#waiting.length;
  }

  get runningRows(): number {
    return this.#running.reduce((n, b) => n + b.members.length, 0);
  }

  submit(job: ScheduledJob): Promise<GenerateOutput> {
    // Requests the free batch slots will take at the next step do not queue: only those beyond them count.
    const free = Math.max(0, this.#options.maxBatch - this.runningRows);
    if (this.#waiting.length >= free + this.#options.maxQueue) {
      return Promise.reject(
        new PeftkitError(
          'PEFTKIT_E_QUEUE_FULL',
          `the request queue is full (${this.#options.maxQueue} waiting beyond the batch)`,
          {},
        ),
      );
    }
    const total = job.ids.length + job.params.maxTokens;
    if (total > this.#model.dims.maxPositions) {
      return Promise.reject(
        new PeftkitError(
          'PEFTKIT_E_CONTEXT_LENGTH',
          `prompt (${job.ids.length} tokens) + max_tokens (${job.params.maxTokens}) exceeds the context length ` +
            `${this.#model.dims.maxPositions}`,
          { promptTokens: job.ids.length },
        ),
      );
    }
    return new Promise<GenerateOutput>((resolve, reject) => {
      this.#waiting.push({ job, resolve, reject });
      this.#loop ??= this.#run().finally(() => {
        this.#loop = null;
      });
    });
  }

  /** Resolves when nothing is waiting or running. */
  async drain(): Promise<void> {
    while (this.#loop) await this.#loop;
  }

  async #run(): Promise<void> {
    await sleep(this.#options.batchWindowMs);
    while (this.#waiting.length > 0 || this.#running.length > 0) {
      this.#admit();
      for (const batch of [...this.#running]) this.#step(batch);
      await sleep(0);
    }
  }

  #admit(): void {
    const room = this.#options.maxBatch - this.runningRows;
    if (room <= 0 || this.#waiting.length === 0) return;
    const admitted = this.#waiting.splice(0, room);
    const groups = new Map<string, Waiting[]>();
    for (const w of admitted) {
      // Seeds are per row (each row samples from its own RNG), so they do not split batches.
      const { maxTokens: _ignored, seed: _seed, ...sampling } = w.job.params;
      const shared = w.job.mixedBatch && this.#options.mixedBatching !== false;
      const key = `${JSON.stringify(sampling)}|${shared ? '*' : w.job.adapter}`;
      const group = groups.get(key) ?? groups.set(key, []).get(key)!;
      group.push(w);
    }
    for (const members of groups.values()) this.#start(members);
  }

  /** Starts a batch; when it cannot start, each member is tried alone, so only the members at fault fail. */
  #start(members: Waiting[]): void {
    const maxTokens = members.map((m) => m.job.params.maxTokens);
    const { seed: _seed, ...first } = (members[0] as Waiting).job.params;
    try {
      const generator = new BatchGenerator(
        this.#model,
        this.#tokenizer,
        // Each row stops at its own max_tokens and samples from its own RNG: its output does not depend on its batch.
        members.map((m) => ({
          ids: m.job.ids,
          adapter: m.job.adapter,
          maxTokens: m.job.params.maxTokens,
          seed: m.job.params.seed ?? randomSeed(),
        })),
        { ...first, maxTokens: Math.max(...maxTokens) },
      );
      this.#running.push({ generator, members, maxTokens, cancelled: members.map(() => false), produced: false });
      this.stats.batches++;
    } catch (error) {
      if (members.length === 1) (members[0] as Waiting).reject(error);
      else for (const m of members) this.#start([m]);
    }
  }

  /** Fails every waiting and running request with `error` (a shutdown past its drain timeout). */
  abortAll(error: unknown): void {
    for (const w of this.#waiting.splice(0)) w.reject(error);
    for (const batch of this.#running.splice(0)) {
      batch.generator.dispose();
      for (const m of batch.members) m.reject(error);
    }
  }

  #step(batch: RunningBatch): void {
    if (!this.#running.includes(batch)) return; // aborted meanwhile (abortAll)
    const { generator, members } = batch;
    // Rows past their own max_tokens or whose client went away stop here (the batch used the largest max_tokens).
    generator.rows.forEach((row, i) => {
      if (row.finish !== null) return;
      const cancelled = members[i]?.job.handlers.signal?.aborted ?? false;
      if (cancelled) batch.cancelled[i] = true;
      if (cancelled || row.generated.length >= (batch.maxTokens[i] as number)) row.finish = 'length';
    });
    try {
      const active = generator.rows.filter((r) => r.finish === null).length;
      if (active > 0) {
        const bucket = String(BATCH_BUCKETS.find((b) => active <= b) ?? '+Inf');
        this.stats.batchSizes[bucket] = (this.stats.batchSizes[bucket] ?? 0) + 1;
        this.stats.steps++;
        for (const event of generator.step()) {
          this.stats.tokensGenerated++;
          const member = members[event.row];
          member?.job.handlers.onToken?.({
            id: event.id,
            text: event.text,
            logprob: event.logprob,
            adapterVersion: member.job.adapterLabel,
          });
        }
      }
    } catch (error) {
      generator.dispose();
      this.#running.splice(this.#running.indexOf(batch), 1);
      // Nothing was sent yet: run each member alone so one faulty row (an adapter hook) fails only its request.
      if (!batch.produced && members.length > 1) for (const m of members) this.#start([m]);
      else for (const m of members) m.reject(error);
      return;
    }
    batch.produced = true;
    if (!generator.done) return;
    generator.dispose();
    this.#running.splice(this.#running.indexOf(batch), 1);
    generator.results().forEach((result, i) => {
      const member = members[i] as Waiting;
      this.stats.promptTokens += result.promptTokens;
      const finishReason: FinishReason = batch.cancelled[i] ? 'cancelled' : result.finishReason;
      member.resolve({ ...result, finishReason, adapterVersion: member.job.adapterLabel });
    });
  }
}
