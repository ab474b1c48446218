import { type AdapterManager, definePlugin, type MethodPlugin, PeftkitError, type SavedAdapter } from '@peftkit/core';
import type { PrefixTuningConfig } from './config.ts';
import { disposeHandle, injectPrefix } from './inject.ts';
import { loadPrefix, type PersistSpec, saveCheckpoint, savePrefix } from './persist.ts';
import { isPrefixHandle, type PrefixHandle } from './types.ts';

export interface PrefixPluginSpec<Cfg extends PrefixTuningConfig> extends PersistSpec<Cfg> {
  readonly description: string;
  /** Other plugins this one builds on (P-Tuning v2 → prefix-tuning). */
  readonly dependencies?: Readonly<Record<string, string>>;
}

/**
 * Builds a PREFIX_TUNING method plugin. prefix-tuning uses it as is; P-Tuning v2 adds prefix dropout and its own
 * config fields. Prefixes cannot be merged into base weights (`merge: 'never'`) and change outputs from the start.
 */
export function createPrefixPlugin<Cfg extends PrefixTuningConfig>(
  spec: PrefixPluginSpec<Cfg>,
): MethodPlugin<Cfg, PrefixHandle> {
  return definePlugin<Cfg, PrefixHandle>({
    meta: {
      name: spec.method.name,
      version: spec.method.version,
      core: '^1.0.0',
      family: 'prompt',
      peftType: 'PREFIX_TUNING',
      description: spec.description,
      ...(spec.dependencies ? { dependencies: spec.dependencies } : {}),
    },
    configSchema: spec.schema,
    capabilities: { merge: 'never', identityAtInit: false, mixedBatch: true },
    inject: (ctx, config) =>
      injectPrefix(ctx, config, { ...spec.options(config), method: spec.method, code: 'PEFTKIT_E_CONFIG_INVALID' }),
    save: (ctx, handle) => savePrefix(ctx, handle),
    // the core's training checkpoints keep the projection MLP and the method's extra fields
    saveCheckpoint: (ctx, handle) => saveCheckpoint(ctx, handle),
    load: (ctx, saved) => loadPrefix(ctx, spec, saved),
    dispose: disposeHandle,
  });
}

/**
 * The training checkpoint of a prefix adapter (prefix-tuning or P-Tuning v2): the PEFT file plus the projection
 * MLP and the method's extra fields. Load it back with `manager.load(name, saved, { method })`; the caller owns
 * the returned tensors (`disposeSaved`).
 */
export function saveTrainingCheckpoint(manager: AdapterManager, name: string): SavedAdapter {
  const record = manager.get(name);
  if (!isPrefixHandle(record.handle)) {
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_FORMAT',
      `adapter '${name}' (${record.plugin.meta.name}) is not a prefix adapter`,
      { adapter: name },
    );
  }
  return saveCheckpoint(record.ctx, record.handle);
}
