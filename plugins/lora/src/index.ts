/**
 * @peftkit/lora — LoRA (with rsLoRA, DoRA, embedding LoRA, biases and modules_to_save) as a peftkit method plugin,
 * reading and writing Hugging Face PEFT's adapter format.
 */
import { definePlugin, type MethodPlugin } from '@peftkit/core';
import { type LoraConfig, LoraConfigSchema } from './config.ts';
import { disposeHandle, injectLora } from './inject.ts';
import { mergeLora, unmergeLora } from './merge.ts';
import { loadLora, PLUGIN_VERSION, saveLora } from './persist.ts';
import type { LoraHandle } from './types.ts';
import { combineLora } from './combination.ts';

const plugin: MethodPlugin<LoraConfig, LoraHandle> = definePlugin<LoraConfig, LoraHandle>({
  meta: {
    name: 'lora',
    version: PLUGIN_VERSION,
    core: '^1.0.0',
    family: 'reparam',
    peftType: 'LORA',
    description: 'Low-rank adaptation (LoRA, rsLoRA, DoRA) in PEFT format',
  },
  configSchema: LoraConfigSchema,
  capabilities: { merge: 'exact', identityAtInit: true, mixedBatch: true, mergeTolerance: 1e-5 },
  inject: injectLora,
  merge: mergeLora,
  unmerge: unmergeLora,
  save: (ctx, handle) => saveLora(ctx, handle),
  load: loadLora,
  dispose(ctx, handle) {
    unmergeLora(ctx, handle);
    disposeHandle(ctx, handle);
  },
  combine: combineLora,
});

export default plugin;
export { plugin as lora };
export { addWeightedAdapter, type WeightedAdapterOptions } from './combination.ts';
export {
  magnitudePrune,
  type MajoritySignMethod,
  mergeTaskTensors,
  randomPrune,
  type TaskMergeMethod,
} from './task-merging.ts';
export { DEFAULT_TARGET_MODULES, type LoraConfig, LoraConfigSchema, loraScaling } from './config.ts';
export { trainableParameterReport } from './report.ts';
export { isTargeted, patternKey, planTargets, resolveTargetModules } from './targeting.ts';
export { lowRankSvd, jacobiSvd, type Svd } from './svd.ts';
export type { BiasCopy, EmbeddingLora, LinearLora, LoraHandle, LoraLayer, SavedModule } from './types.ts';
