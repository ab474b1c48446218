/**
 * @peftkit/full — full fine-tuning as a peftkit method plugin: the "adapter" is the model's own base parameters
 * (all of them, or those a `trainable` pattern list selects), so the core's training loop can compare it with
 * parameter-efficient methods on memory and speed. One per model; the base stays modified after dispose.
 */
import { type MethodPlugin, type ModelGraph, PeftkitError, definePlugin } from '@peftkit/core';
import { CONFIG_FILE, type FullConfig, FullConfigSchema, METHOD_KEY, PLUGIN_VERSION, WEIGHTS_FILE } from './config.ts';
import { assignSaved, parseSavedConfig } from './persist.ts';
import { selectParameters, type Variable } from './select.ts';

export interface FullHandle {
  readonly trainableVariables: readonly Variable[];
  /** Hugging Face names of the trained parameters, aligned with trainableVariables. */
  readonly names: readonly string[];
  /** `trainable` flags before inject, restored by dispose. */
  readonly previouslyTrainable: readonly boolean[];
  readonly model: ModelGraph;
}

/** Models that carry a full fine-tuning adapter: two would train (and overwrite) the same weights. */
const owners = new WeakMap<ModelGraph, string>();

function inject(model: ModelGraph, adapterName: string, config: FullConfig): FullHandle {
  const owner = owners.get(model);
  if (owner !== undefined) {
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_CONFLICT',
      `full: the model already has a full fine-tuning adapter ('${owner}'); ` +
        'it trains the base weights, so only one fits',
      {
        existing: owner,
        adapter: adapterName,
      },
    );
  }
  const { names, variables } = selectParameters(model, config);
  const previouslyTrainable = variables.map((v) => v.trainable);
  // Base parameters are created non-trainable (frozen); tf.variableGrads only differentiates trainable ones.
  for (const v of variables) v.trainable = true;
  owners.set(model, adapterName);
  return { trainableVariables: variables, names, previouslyTrainable, model };
}

const plugin: MethodPlugin<FullConfig, FullHandle> = definePlugin<FullConfig, FullHandle>({
  meta: {
    name: 'full',
    version: PLUGIN_VERSION,
    core: '^1.0.0',
    family: 'reparam',
    description: 'Full fine-tuning of the base parameters (baseline for memory and speed comparisons)',
  },
  configSchema: FullConfigSchema,
  capabilities: { merge: 'never', identityAtInit: true, mixedBatch: false },
  inject: (ctx, config) => inject(ctx.model, ctx.adapterName, config),
  save(ctx, handle, config) {
    const tensors: Record<string, ReturnType<typeof ctx.tf.clone>> = {};
    for (const [i, name] of handle.names.entries())
      tensors[name] = ctx.tf.clone(handle.trainableVariables[i] as Variable);
    return {
      config: {
        [METHOD_KEY]: 'full',
        plugin_version: PLUGIN_VERSION,
        trainable: config.trainable,
        architecture: ctx.model.arch,
        parameters: [...handle.names],
      },
      tensors,
      files: { config: CONFIG_FILE, weights: WEIGHTS_FILE },
    };
  },
  load(ctx, saved) {
    const config = parseSavedConfig(ctx, saved.config);
    // check every tensor before touching the base, then inject and assign
    const planned = selectParameters(ctx.model, config);
    const values = assignSaved(planned.names, planned.variables, saved.tensors, false);
    const handle = inject(ctx.model, ctx.adapterName, config);
    assignSaved(handle.names, handle.trainableVariables, values, true);
    return { handle, config };
  },
  recognizes: (config) => config[METHOD_KEY] === 'full',
  dispose(_ctx, handle) {
    // Nothing is owned: the trained values stay in the base weights (reload the model to get the original back).
    for (const [i, v] of handle.trainableVariables.entries()) v.trainable = handle.previouslyTrainable[i] ?? false;
    owners.delete(handle.model);
  },
});

export default plugin;
export { plugin as full };
export { CONFIG_FILE, type FullConfig, FullConfigSchema, WEIGHTS_FILE } from './config.ts';
