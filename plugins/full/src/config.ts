import { z } from '@peftkit/core';

/**
 * Config of full fine-tuning. `trainable`: regular expressions searched in each base parameter's Hugging Face name
 * (`model.layers.1.`, `norm`, `^lm_head`); a parameter is trained when any matches. null trains every parameter.
 */
export const FullConfigSchema = z.strictObject({
  trainable: z.array(z.string().min(1)).min(1).nullable().default(null),
});

export type FullConfig = z.output<typeof FullConfigSchema>;

export const PLUGIN_VERSION = '0.1.0';
export const CONFIG_FILE = 'peftkit_full_config.json';
export const WEIGHTS_FILE = 'model.safetensors';
/** Marks the config file as ours (PEFT has no full fine-tuning format). */
export const METHOD_KEY = 'peftkit_method';
