/**
 * @peftkit/p-tuning-v2 — P-Tuning v2 (Liu et al. 2022, "deep prompt tuning"): trainable prompts in every layer through
 * the prefix mechanism of @peftkit/prefix-tuning, with THUDM's prefix dropout and a trained classification head for
 * NLU. Saved as PEFT's PREFIX_TUNING adapter plus the head (`base_model.classifier.*` / `base_model.score.*`).
 */
import type { MethodPlugin } from '@peftkit/core';
import { createPrefixPlugin, type PrefixHandle } from '@peftkit/prefix-tuning';
import { type PTuningV2Config, PTuningV2ConfigSchema } from './config.ts';

export const PLUGIN_VERSION = '0.1.0';

const plugin: MethodPlugin<PTuningV2Config, PrefixHandle> = createPrefixPlugin<PTuningV2Config>({
  method: { name: 'p-tuning-v2', version: PLUGIN_VERSION },
  description:
    'P-Tuning v2: deep prompts (prefixes in every layer) with prefix dropout and a trained classifier head, ' +
    'PEFT PREFIX_TUNING format',
  schema: PTuningV2ConfigSchema,
  dependencies: { 'prefix-tuning': '^0.1.0' },
  options: (config) => ({ dropout: config.prefix_dropout, extra: { prefix_dropout: config.prefix_dropout } }),
});

export default plugin;
export { plugin as pTuningV2 };
export { type PTuningV2Config, PTuningV2ConfigSchema } from './config.ts';
export { saveTrainingCheckpoint } from '@peftkit/prefix-tuning';
