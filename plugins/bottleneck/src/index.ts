/**
 * @peftkit/bottleneck — bottleneck adapters (Houlsby and Pfeiffer, AdapterHub's `double_seq_bn` / `seq_bn`) as a
 * peftkit method plugin, reading and writing AdapterHub's adapter format (`adapter_config.json` +
 * `adapter.safetensors`).
 */
import { definePlugin, type MethodPlugin } from '@peftkit/core';
import { type BottleneckConfig, BottleneckConfigSchema } from './config.ts';
import { type BottleneckHandle, disposeBottleneck, injectBottleneck } from './inject.ts';
import { loadBottleneck, PLUGIN_VERSION, recognizesAdapterHub, saveBottleneck } from './persist.ts';

const plugin: MethodPlugin<BottleneckConfig, BottleneckHandle> = definePlugin<BottleneckConfig, BottleneckHandle>({
  meta: {
    name: 'bottleneck',
    version: PLUGIN_VERSION,
    core: '^1.0.0',
    family: 'additive',
    description: 'Bottleneck adapters (Houlsby, Pfeiffer) in AdapterHub format',
  },
  configSchema: BottleneckConfigSchema,
  // The adapter is non-linear in the hidden state, so it cannot be folded into the base weights.
  capabilities: { merge: 'never', identityAtInit: false, mixedBatch: true },
  inject: injectBottleneck,
  save: (ctx, handle) => saveBottleneck(ctx, handle),
  load: loadBottleneck,
  recognizes: recognizesAdapterHub,
  dispose: disposeBottleneck,
});

export default plugin;
export { plugin as bottleneck };
export {
  BottleneckConfigSchema,
  type BottleneckConfig,
  bottleneckSize,
  NON_LINEARITIES,
  type NonLinearity,
  PRESETS,
  reductionFactorFor,
} from './config.ts';
export { type BottleneckHandle, parameterCount, targetSites } from './inject.ts';
export { activate, type AffineNorm, type BottleneckLayer, bottleneckForward, type OriginalNorm } from './layer.ts';
export { adapterModulePath, isPostNorm, layerTensorNames, POST_NORM_ARCHS } from './naming.ts';
export { ADAPTERHUB_FILES, parseSavedConfig, PLUGIN_VERSION, recognizesAdapterHub } from './persist.ts';
