import type { Variable } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { ModelGraph } from '../model/graph.ts';
import { BASE_ADAPTER } from '../model/selection.ts';
import { callHook } from '../plugin/call-hook.ts';
import type {
  AdapterStats,
  CombineOptions,
  Logger,
  MethodContext,
  MethodHandle,
  MethodPlugin,
  SavedAdapter,
} from '../plugin/contract.ts';
import type { PluginRegistry } from '../plugin/registry.ts';
import { parseConfig } from '../plugin/validate.ts';
import type { Tf } from '../runtime/types.ts';
import { Rng } from '../util/rng.ts';
import { defaultAdapterStats } from './stats.ts';

/** Adapter names double as directory names and HTTP model ids: keep them boring. */
const ADAPTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function assertAdapterName(name: string): void {
  if (!ADAPTER_NAME.test(name) || name === BASE_ADAPTER || name.includes('..')) {
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_NAME',
      `invalid adapter name '${name}': use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      { adapter: name },
    );
  }
}

/**
 * The plugin whose file format a saved config is in: its `recognizes` says yes, or (without one) its peft_type
 * matches. A plugin that recognizes the file explicitly (QLoRA's marked LoRA files) outranks a plain peft_type match.
 */
export function findPluginForConfig(
  plugins: readonly MethodPlugin[],
  config: Readonly<Record<string, unknown>>,
): MethodPlugin | undefined {
  const matches = plugins.filter((p) =>
    p.recognizes ? p.recognizes(config) : p.meta.peftType !== undefined && config.peft_type === p.meta.peftType,
  );
  return matches.find((p) => p.recognizes !== undefined) ?? matches[0];
}

export interface AdapterRecord {
  readonly name: string;
  readonly plugin: MethodPlugin;
  readonly config: unknown;
  readonly handle: MethodHandle;
  readonly ctx: MethodContext;
  merged: boolean;
}

export interface AdapterManagerOptions {
  log: Logger;
  seed?: number;
  tokenizer?: MethodContext['tokenizer'];
  /**
   * Written into saved configs that leave the base unnamed (PEFT's base_model_name_or_path, AdapterHub's model_name).
   */
  baseModel?: string;
}

/**
 * Names the base in a saved config when the plugin left it null: PEFT's AutoPeftModel (and AdapterHub) load the base
 * from that field, so a null there makes the file unusable outside peftkit.
 */
export function withBaseModel(saved: SavedAdapter, baseModel: string | undefined): SavedAdapter {
  if (baseModel === undefined || baseModel === '') return saved;
  const config = saved.config;
  const peft = typeof config.peft_type === 'string' || 'base_model_name_or_path' in config;
  if (peft && (config.base_model_name_or_path === null || config.base_model_name_or_path === undefined)) {
    return { ...saved, config: { ...config, base_model_name_or_path: baseModel } };
  }
  if ('model_name' in config && config.model_name === null)
    return { ...saved, config: { ...config, model_name: baseModel } };
  return saved;
}

/** The named adapters living on one model: create, load, save, merge, unmerge, delete. */
export class AdapterManager {
  readonly model: ModelGraph;
  readonly #tf: Tf;
  readonly #registry: PluginRegistry;
  readonly #options: AdapterManagerOptions;
  readonly #records = new Map<string, AdapterRecord>();

  /** Shared with the model: forward calls may only select adapters that exist. */
  readonly #names: Set<string>;

  constructor(tf: Tf, model: ModelGraph, registry: PluginRegistry, options: AdapterManagerOptions) {
    model.adapterNames ??= new Set();
    this.#names = model.adapterNames;
    this.#tf = tf;
    this.model = model;
    this.#registry = registry;
    this.#options = options;
  }

  #context(name: string, seed: number | undefined): MethodContext {
    const ctx: MethodContext = {
      tf: this.#tf,
      model: this.model,
      adapterName: name,
      rng: new Rng(seed ?? this.#options.seed ?? 0),
      log: this.#options.log,
    };
    return this.#options.tokenizer ? { ...ctx, tokenizer: this.#options.tokenizer } : ctx;
  }

  #assertFree(name: string): void {
    assertAdapterName(name);
    if (this.#records.has(name))
      throw new PeftkitError('PEFTKIT_E_ADAPTER_EXISTS', `adapter '${name}' already exists`, { adapter: name });
  }

  /** Injects a new adapter of `method` with a config validated strictly against the plugin's schema. */
  create(name: string, method: string, rawConfig: unknown = {}, options: { seed?: number } = {}): AdapterRecord {
    this.#assertFree(name);
    const plugin = this.#registry.get(method);
    const config = parseConfig(plugin, rawConfig);
    const ctx = this.#context(name, options.seed);
    const handle = callHook(plugin.meta.name, 'inject', name, () => plugin.inject(ctx, config));
    const record: AdapterRecord = { name, plugin, config, handle, ctx, merged: false };
    this.#records.set(name, record);
    this.#names.add(name);
    return record;
  }

  /** Recreates an adapter from its saved form. The plugin is `method` or the one that recognises the config. */
  load(name: string, saved: SavedAdapter, options: { method?: string; seed?: number } = {}): AdapterRecord {
    this.#assertFree(name);
    const plugin = options.method !== undefined ? this.#registry.get(options.method) : this.pluginFor(saved.config);
    const ctx = this.#context(name, options.seed);
    const { handle, config } = callHook(plugin.meta.name, 'load', name, () => plugin.load(ctx, saved));
    const record: AdapterRecord = { name, plugin, config, handle, ctx, merged: false };
    this.#records.set(name, record);
    this.#names.add(name);
    return record;
  }

  /** The registered plugin whose file format a saved config is in. */
  pluginFor(config: Readonly<Record<string, unknown>>): MethodPlugin {
    const first = findPluginForConfig(this.#registry.list(), config);
    if (first === undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_ADAPTER_FORMAT',
        `no registered method plugin reads this adapter (peft_type ${JSON.stringify(config.peft_type ?? null)})`,
        {
          peftType: config.peft_type,
        },
      );
    }
    return first;
  }

  get(name: string): AdapterRecord {
    const record = this.#records.get(name);
    if (record === undefined)
      throw new PeftkitError('PEFTKIT_E_ADAPTER_UNKNOWN', `no adapter named '${name}'`, { adapter: name });
    return record;
  }

  has(name: string): boolean {
    return this.#records.has(name);
  }

  list(): AdapterRecord[] {
    return [...this.#records.values()];
  }

  trainableVariables(name: string): readonly Variable[] {
    return this.get(name).handle.trainableVariables;
  }

  /** Trainable and frozen parameter counts and resident bytes: the plugin's `stats` hook, else the core's default. */
  stats(name: string): AdapterStats {
    const r = this.get(name);
    const hook = r.plugin.stats;
    if (hook === undefined) return defaultAdapterStats(r.handle);
    return callHook(r.plugin.meta.name, 'stats', name, () => hook.call(r.plugin, r.ctx, r.handle));
  }

  /**
   * Creates adapter `name` from weighted adapters of one method through its plugin's `combine` hook (LoRA's
   * add_weighted_adapter); PEFTKIT_E_MERGE_UNSUPPORTED when the method has none.
   */
  combine(
    name: string,
    sources: readonly { adapter: string; weight: number }[],
    options: CombineOptions,
  ): AdapterRecord {
    this.#assertFree(name);
    if (sources.length === 0)
      throw new PeftkitError('PEFTKIT_E_COMBINATION', 'combine needs at least one adapter', { adapter: name });
    const records = sources.map((s) => this.get(s.adapter));
    const plugin = (records[0] as AdapterRecord).plugin;
    const stranger = records.find((r) => r.plugin !== plugin);
    if (stranger !== undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_COMBINATION',
        `cannot combine adapters of different methods ('${plugin.meta.name}' and '${stranger.plugin.meta.name}')`,
        { adapter: name, methods: [plugin.meta.name, stranger.plugin.meta.name] },
      );
    }
    const combine = plugin.combine;
    if (combine === undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_MERGE_UNSUPPORTED',
        `method '${plugin.meta.name}' cannot combine adapters (its plugin has no combine hook)`,
        {
          adapter: name,
          method: plugin.meta.name,
        },
      );
    }
    const ctx = this.#context(name, options.seed);
    const parts = records.map((r, i) => ({
      name: r.name,
      handle: r.handle,
      config: r.config,
      weight: (sources[i] as { weight: number }).weight,
    }));
    const { handle, config } = callHook(plugin.meta.name, 'combine', name, () =>
      combine.call(plugin, ctx, parts, options),
    );
    const record: AdapterRecord = { name, plugin, config, handle, ctx, merged: false };
    this.#records.set(name, record);
    this.#names.add(name);
    return record;
  }

  save(name: string): SavedAdapter {
    const r = this.get(name);
    const saved = callHook(r.plugin.meta.name, 'save', name, () => r.plugin.save(r.ctx, r.handle, r.config));
    return withBaseModel(saved, this.#options.baseModel);
  }

  /** The training-checkpoint form of an adapter: the plugin's `saveCheckpoint` when it has one, else `save`. */
  saveCheckpoint(name: string): SavedAdapter {
    const r = this.get(name);
    const hook = r.plugin.saveCheckpoint;
    if (hook === undefined) return this.save(name);
    return withBaseModel(
      callHook(r.plugin.meta.name, 'save', name, () => hook.call(r.plugin, r.ctx, r.handle, r.config)),
      this.#options.baseModel,
    );
  }

  merge(name: string, options: { safe?: boolean } = {}): void {
    const r = this.get(name);
    const merge = r.plugin.merge;
    if (r.plugin.capabilities.merge === 'never' || merge === undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_MERGE_UNSUPPORTED',
        `method '${r.plugin.meta.name}' cannot be merged into the base weights`,
        { adapter: name },
      );
    }
    if (r.merged) return;
    callHook(r.plugin.meta.name, 'merge', name, () =>
      merge.call(r.plugin, r.ctx, r.handle, { safe: options.safe ?? false }),
    );
    r.merged = true;
  }

  unmerge(name: string): void {
    const r = this.get(name);
    if (!r.merged || r.plugin.unmerge === undefined) return;
    const unmerge = r.plugin.unmerge;
    callHook(r.plugin.meta.name, 'unmerge', name, () => unmerge.call(r.plugin, r.ctx, r.handle));
    r.merged = false;
  }

  /** Removes an adapter: unmerges it if needed, detaches its hooks and frees its tensors. */
  delete(name: string): void {
    const r = this.get(name);
    this.unmerge(name);
    callHook(r.plugin.meta.name, 'dispose', name, () => r.plugin.dispose(r.ctx, r.handle));
    this.#records.delete(name);
    this.#names.delete(name);
  }

  dispose(): void {
    for (const name of [...this.#records.keys()]) this.delete(name);
  }
}
