import type { AdapterCacheOptions } from './cache.ts';
import type { SchedulerOptions } from './scheduler.ts';

/** Everything an engine needs to start; plain data so it can be posted to a worker. */
export interface EngineOptions {
  modelDir: string;
  adapterRoot: string;
  /** Adapters loaded (and pinned) at start-up. */
  preload?: string[];
  /** Byte budget of loaded adapters (default 256 MiB); least-recently-used idle unpinned ones are evicted. */
  adapterBudgetBytes?: number;
  maxBatch?: number;
  batchWindowMs?: number;
  maxQueue?: number;
  /** Rows of different adapters share one forward when their methods allow it (default true). */
  mixedBatching?: boolean;
  backend?: string;
  /** Method plugin specifiers added to those the composition registers (third-party plugins). */
  plugins?: string[];
  /**
   * Module URL exporting `createEngineKernel` (see compose.ts): how the worker builds its kernel. Given by the
   * application (`peftkit` serve); in-process engines may pass the factory to LocalEngine.create instead.
   */
  composition?: string;
  task?: 'causal-lm' | 'seq-cls';
  /** Name of the base model in /v1/models (default: the model directory's name). */
  baseModelName?: string;
  /** Longest prompt in tokens (default and maximum: the context length); the byte cap before tokenizing follows. */
  maxInputTokens?: number;
  /** Byte cap of a prompt, checked before tokenizing (default maxInputTokens × 32). */
  maxInputBytes?: number;
  /** How long close() lets in-flight requests finish before failing them (default 30 s). */
  drainTimeoutMs?: number;
  /** Highest LoRA rank accepted (vLLM's --max-lora-rank); 0 or absent: any. */
  maxLoraRank?: number;
  /** Most adapters loaded at once (like vLLM's --max-cpu-loras); 0 or absent: only the byte budget limits them. */
  maxLoras?: number;
  /** Largest adapter weights file read, checked before reading (default: the byte budget, at most 2 GiB - 1). */
  maxAdapterFileBytes?: number;
  /** Internal: first adapter version number (a restarted worker continues its predecessor's numbering). */
  firstAdapterVersion?: number;
}

/** The adapter cache's settings: 0 or absent limits stay unset (no limit), as the options document. */
export function adapterCacheOptions(options: EngineOptions): AdapterCacheOptions {
  return {
    root: options.adapterRoot,
    budgetBytes: options.adapterBudgetBytes ?? 256 * 2 ** 20,
    ...(options.maxLoraRank ? { maxRank: options.maxLoraRank } : {}),
    ...(options.maxLoras ? { maxLoaded: options.maxLoras } : {}),
    ...(options.maxAdapterFileBytes ? { maxFileBytes: options.maxAdapterFileBytes } : {}),
    ...(options.firstAdapterVersion !== undefined ? { firstVersion: options.firstAdapterVersion } : {}),
  };
}

/** The scheduler's settings, defaults filled in. */
export function schedulerOptions(options: EngineOptions): SchedulerOptions {
  return {
    maxBatch: options.maxBatch ?? 32,
    batchWindowMs: options.batchWindowMs ?? 5,
    maxQueue: options.maxQueue ?? 256,
    mixedBatching: options.mixedBatching ?? true,
  };
}

/** How long close() drains when drainTimeoutMs is unset (D15). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
