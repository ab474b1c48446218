/**
 * @peftkit/prefix-tuning — prefix tuning (Li & Liang 2021) as a peftkit method plugin: per-layer key/value prefixes
 * entering attention through the KV-cache path, flat or reparameterized by PEFT's PrefixEncoder MLP, sized by
 * key/value heads for grouped-query models, read and written in Hugging Face PEFT's PREFIX_TUNING format.
 */
import { type PrefixTuningConfig, PrefixTuningConfigSchema } from './config.ts';
import type { MethodPlugin } from '@peftkit/core';
import { createPrefixPlugin } from './plugin.ts';
import type { PrefixHandle } from './types.ts';

export const PLUGIN_VERSION = '0.1.0';

const plugin: MethodPlugin<PrefixTuningConfig, PrefixHandle> = createPrefixPlugin<PrefixTuningConfig>({
  method: { name: 'prefix-tuning', version: PLUGIN_VERSION },
  description: 'Prefix tuning (per-layer key/value prefixes, optional MLP reparameterization) in PEFT format',
  schema: PrefixTuningConfigSchema,
  options: () => ({ dropout: 0, extra: {} }),
});

export default plugin;
export { plugin as prefixTuning };
export {
  PREFIX_TUNING_FIELDS,
  type PrefixTuningConfig,
  PrefixTuningConfigSchema,
  SEQ_CLS_HEADS,
  TASK_TYPES,
} from './config.ts';
export { type PrefixGeometry, prefixColumn, resolveGeometry } from './geometry.ts';
export { CHECKPOINT_KEY, type PersistSpec } from './persist.ts';
export { createPrefixPlugin, type PrefixPluginSpec, saveTrainingCheckpoint } from './plugin.ts';
export {
  type ExtraFields,
  type HeadCopy,
  isPrefixHandle,
  type PrefixEncoder,
  type PrefixHandle,
  type PrefixProjection,
} from './types.ts';
