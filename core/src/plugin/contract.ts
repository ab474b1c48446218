import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { ModelGraph } from '../model/graph.ts';
import type { Tf } from '../runtime/types.ts';
import type { Rng } from '../util/rng.ts';

/** Version of the method-plugin API this core implements; plugins declare a semver range of it in `meta.core`. */
export const PLUGIN_API_VERSION = '1.0.0';

export type PluginFamily = 'reparam' | 'additive' | 'prompt';

export interface PluginMeta {
  /** Unique, lower-case: `lora`, `prefix-tuning`, `acme-ia3`. */
  readonly name: string;
  /** The plugin's own semver version (written into saved adapters). */
  readonly version: string;
  /** Semver range of PLUGIN_API_VERSION the plugin supports, e.g. `^1.0.0`. */
  readonly core: string;
  readonly family: PluginFamily;
  /** Other method plugins this one needs, by name → semver range of their version. */
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly description?: string;
  /** PEFT `peft_type` this plugin reads and writes (LORA, PREFIX_TUNING, …), when it uses PEFT's format. */
  readonly peftType?: string;
}

export interface PluginCapabilities {
  /** 'exact': merge is exact in float32; 'dequantize': merge re-quantizes (lossy); 'never': cannot merge. */
  readonly merge: 'exact' | 'dequantize' | 'never';
  /** True when a freshly injected adapter leaves outputs unchanged. */
  readonly identityAtInit: boolean;
  /** True when one forward may apply different adapters of this method to different rows. */
  readonly mixedBatch: boolean;
  /** Max abs difference merged vs unmerged the plugin guarantees (default 1e-5). */
  readonly mergeTolerance?: number;
}

export interface Logger {
  warn(message: string): void;
  info(message: string): void;
}

/** What a hook sees: the shared tensor runtime, the model, the adapter it acts on. Never the DI container. */
export interface MethodContext {
  readonly tf: Tf;
  readonly model: ModelGraph;
  readonly adapterName: string;
  /** Seeded randomness for initialisation. */
  readonly rng: Rng;
  readonly log: Logger;
  /** Tokenizer of the model when one is loaded (prompt-tuning TEXT init). */
  readonly tokenizer?: { encode(text: string, options?: { bos?: boolean; eos?: boolean }): number[] };
}

/** What every handle exposes to the core. Plugins may add anything else. */
export interface MethodHandle {
  /** Variables the training loop optimises (the adapter's parameters). */
  readonly trainableVariables: readonly Variable[];
  /** True while the adapter's delta is folded into the base weights. */
  merged?: boolean;
  /**
   * Other tensors the adapter owns and keeps resident but does not train (e.g. VeRA's shared random projections).
   * Counted as frozen parameters by the core's default `stats`. Never the base model's weights.
   */
  readonly frozenTensors?: readonly Tensor[];
}

/** Sizes of one adapter: what it trains, what else it holds, and the bytes both occupy on the tensor backend. */
export interface AdapterStats {
  readonly trainableParams: number;
  /** Elements of non-trainable tensors the adapter owns (not the base model's, e.g. not QLoRA's packed base). */
  readonly frozenParams: number;
  readonly residentBytes: number;
}

/** Strategies of `combine` (PEFT's add_weighted_adapter names); a plugin refuses those it lacks with a coded error. */
export type CombineStrategy = 'linear' | 'cat' | 'svd' | 'ties' | 'dare_linear' | 'dare_ties' | 'magnitude_prune';

export interface CombineOptions {
  readonly strategy: CombineStrategy;
  /** Share of entries kept by ties / dare_* / magnitude_prune, in (0, 1] (default 1). */
  readonly density?: number;
  /** Sign election of ties / dare_ties (default 'total'). */
  readonly majoritySignMethod?: 'total' | 'frequency';
  /** Rank of an svd combination (plugin default otherwise). */
  readonly svdRank?: number;
  /** Seed of random pruning (dare_*). */
  readonly seed?: number;
}

/** One adapter taking part in a combination, with its weight. */
export interface CombineSource<Cfg, H> {
  readonly name: string;
  readonly handle: H;
  readonly config: Cfg;
  readonly weight: number;
}

/** An adapter as persisted: the method's config file object and its tensors (file key → tensor). */
export interface SavedAdapter {
  /** Contents of the config file (PEFT's adapter_config.json for PEFT methods). */
  readonly config: Record<string, unknown>;
  readonly tensors: Readonly<Record<string, Tensor>>;
  /** File names; default adapter_config.json / adapter_model.safetensors. */
  readonly files?: { readonly config: string; readonly weights: string };
}

export interface MergeOptions {
  /** Compute on a copy and reject non-finite results before touching the base weights. */
  readonly safe: boolean;
}

/**
 * A PEFT method plugin: a plain object. `Cfg` is the parsed config, `H` the per-adapter handle.
 * `merge`/`unmerge` are present iff `capabilities.merge !== 'never'`.
 */
export interface MethodPlugin<Cfg = unknown, H extends MethodHandle = MethodHandle> {
  readonly meta: PluginMeta;
  /** Strict schema (unknown keys rejected) holding every default. Any object with zod's `safeParse`. */
  readonly configSchema: ConfigSchema<Cfg>;
  readonly capabilities: PluginCapabilities;
  /** Create the adapter's variables and attach hooks to model sites. */
  inject(ctx: MethodContext, config: Cfg): H;
  /** Fold the adapter into the base weights. Idempotent. */
  merge?(ctx: MethodContext, handle: H, options: MergeOptions): void;
  /** Undo `merge`. Idempotent. */
  unmerge?(ctx: MethodContext, handle: H): void;
  /** Serialise the adapter in the method's file format. Returned tensors are owned by the caller. */
  save(ctx: MethodContext, handle: H, config: Cfg): SavedAdapter;
  /**
   * Optional: the adapter with everything training needs to resume (e.g. P-Tuning's prompt encoder, prefix tuning's
   * projection MLP), in a form `load` reads back. Used by the core's training checkpoints; without it they use `save`.
   */
  saveCheckpoint?(ctx: MethodContext, handle: H, config: Cfg): SavedAdapter;
  /** Recreate an adapter from its saved form: parse the file config leniently, inject, assign tensors. */
  load(ctx: MethodContext, saved: SavedAdapter): { handle: H; config: Cfg };
  /** True when a saved config file belongs to this plugin (default: `peft_type` equals `meta.peftType`). */
  recognizes?(config: Readonly<Record<string, unknown>>): boolean;
  /** Detach hooks and free every tensor the adapter owns (unmerging first if needed). */
  dispose(ctx: MethodContext, handle: H): void;
  /**
   * Optional: a new adapter (injected on `ctx.model` under `ctx.adapterName`) combining weighted adapters of this
   * plugin, e.g. LoRA's add_weighted_adapter. Without it the core refuses with PEFTKIT_E_MERGE_UNSUPPORTED.
   */
  combine?(
    ctx: MethodContext,
    sources: readonly CombineSource<Cfg, H>[],
    options: CombineOptions,
  ): { handle: H; config: Cfg };
  /** Optional: parameter counts and resident bytes; the core's default counts trainableVariables + frozenTensors. */
  stats?(ctx: MethodContext, handle: H): AdapterStats;
}

export interface ConfigSchema<Cfg> {
  safeParse(
    value: unknown,
  ): { success: true; data: Cfg } | { success: false; error: { issues: readonly ConfigIssue[] } };
}

export interface ConfigIssue {
  readonly code?: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
}

/** The hook names of the contract; `Record<HookName, 1>` lets the compiler catch a missing one. */
export type HookName = 'inject' | 'merge' | 'unmerge' | 'save' | 'load' | 'dispose' | 'combine' | 'stats';
export const HOOK_NAMES: Record<HookName, 1> = {
  inject: 1,
  merge: 1,
  unmerge: 1,
  save: 1,
  load: 1,
  dispose: 1,
  combine: 1,
  stats: 1,
};

/** Identity helper giving plugin authors inference on their object literal. */
export function definePlugin<Cfg, H extends MethodHandle>(plugin: MethodPlugin<Cfg, H>): MethodPlugin<Cfg, H> {
  return plugin;
}
