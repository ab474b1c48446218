import { targetingFields, targetingIssues, z } from '@peftkit/core';

/** PEFT task types (`TaskType`); the plugin only changes behaviour for SEQ_CLS (classifier heads become trainable). */
const TASK_TYPES = ['CAUSAL_LM', 'SEQ_CLS', 'SEQ_2_SEQ_LM', 'TOKEN_CLS', 'QUESTION_ANS', 'FEATURE_EXTRACTION'] as const;

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
    /**
     * target_modules list: exact name or suffix after a dot; string: full regex
     * or `all-linear`; null: per-arch default.
     */
    ...targetingFields,
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
    for (const issue of targetingIssues(c)) ctx.addIssue({ code: 'custom', ...issue });
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
