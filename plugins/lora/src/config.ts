import { z } from '@peftkit/core';

/** PEFT task types (`TaskType`); the plugin only changes behaviour for SEQ_CLS (classifier heads become trainable). */
const TASK_TYPES = ['CAUSAL_LM', 'SEQ_CLS', 'SEQ_2_SEQ_LM', 'TOKEN_CLS', 'QUESTION_ANS', 'FEATURE_EXTRACTION'] as const;

const names = z.union([z.array(z.string().min(1)), z.string().min(1)]);

/**
 * PEFT's `LoraConfig`, restricted to the fields that change the math here, with PEFT's names and defaults.
 * Strict: unknown keys are rejected (loading a saved file is lenient, see persist.ts).
 */
export const LoraConfigSchema = z
  .strictObject({
    r: z.number().int().positive().default(8),
    lora_alpha: z.number().positive().default(8),
    lora_dropout: z.number().min(0).lt(1).default(0),
    use_rslora: z.boolean().default(false),
    /** Module-name regex (matched as `(.*\.)?(key)$`) → rank. */
    rank_pattern: z.record(z.string().min(1), z.number().int().positive()).default({}),
    alpha_pattern: z.record(z.string().min(1), z.number().positive()).default({}),
    /** List: exact name or suffix after a dot; string: full regex match or `all-linear`; null: per-architecture default. */
    target_modules: names.nullable().default(null),
    exclude_modules: names.nullable().default(null),
    layers_to_transform: z
      .union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())])
      .nullable()
      .default(null),
    layers_pattern: z
      .union([z.string().min(1), z.array(z.string().min(1))])
      .nullable()
      .default(null),
    fan_in_fan_out: z.boolean().default(false),
    bias: z.enum(['none', 'all', 'lora_only']).default('none'),
    init_lora_weights: z.union([z.boolean(), z.literal('gaussian')]).default(true),
    use_dora: z.boolean().default(false),
    modules_to_save: z.array(z.string().min(1)).nullable().default(null),
    task_type: z.enum(TASK_TYPES).nullable().default(null),
    base_model_name_or_path: z.string().nullable().default(null),
    revision: z.string().nullable().default(null),
    inference_mode: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    // Same restrictions as LoraConfig.__post_init__.
    if (typeof c.target_modules === 'string' && (c.layers_to_transform !== null || c.layers_pattern !== null)) {
      ctx.addIssue({
        code: 'custom',
        path: ['layers_to_transform'],
        message: 'layers_to_transform / layers_pattern cannot be used when target_modules is a string',
      });
    }
    if (c.layers_pattern !== null && c.layers_to_transform === null) {
      ctx.addIssue({ code: 'custom', path: ['layers_pattern'], message: 'layers_pattern requires layers_to_transform' });
    }
  });

export type LoraConfig = z.infer<typeof LoraConfigSchema>;

/** PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING for the architectures peftkit models. */
export const DEFAULT_TARGET_MODULES: Readonly<Record<string, readonly string[]>> = {
  llama: ['q_proj', 'v_proj'],
  mistral: ['q_proj', 'v_proj'],
  qwen2: ['q_proj', 'v_proj'],
  gpt2: ['c_attn'],
  bert: ['query', 'value'],
  roberta: ['query', 'value'],
};

/** Heads PEFT's PeftModelForSequenceClassification adds to modules_to_save. */
export { SEQ_CLS_HEADS } from '@peftkit/core';

export function loraScaling(alpha: number, r: number, rslora: boolean): number {
  return rslora ? alpha / Math.sqrt(r) : alpha / r;
}
