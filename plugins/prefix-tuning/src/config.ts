import { z } from '@peftkit/core';

/** PEFT task types (`TaskType`); SEQ_CLS (or a seq-cls model) adds the classifier heads to modules_to_save. */
export const TASK_TYPES = [
  'CAUSAL_LM',
  'SEQ_CLS',
  'SEQ_2_SEQ_LM',
  'TOKEN_CLS',
  'QUESTION_ANS',
  'FEATURE_EXTRACTION',
] as const;

/** Heads PEFT's PeftModelForSequenceClassification adds to modules_to_save (kept as an export; defined in the core). */
export { SEQ_CLS_HEADS } from '@peftkit/core';

const size = z.number().int().positive();

/**
 * The fields of PEFT's `PrefixTuningConfig` (with `PromptLearningConfig`'s), PEFT names and defaults. The model
 * geometry fields (`token_dim`, `num_attention_heads`, `num_layers`, `num_transformer_submodules`) are derived from
 * the model when null and, when given, must agree with it. Shared by the prefix-tuning and P-Tuning v2 schemas.
 */
export const PREFIX_TUNING_FIELDS = {
  num_virtual_tokens: size.max(4096).default(20),
  token_dim: size.nullable().default(null),
  num_transformer_submodules: size.nullable().default(null),
  num_attention_heads: size.nullable().default(null),
  num_layers: size.nullable().default(null),
  /** Hidden size of the reparameterization MLP; null: token_dim (as PEFT). */
  encoder_hidden_size: size.nullable().default(null),
  prefix_projection: z.boolean().default(false),
  modules_to_save: z.array(z.string().min(1)).nullable().default(null),
  task_type: z.enum(TASK_TYPES).nullable().default(null),
  base_model_name_or_path: z.string().nullable().default(null),
  revision: z.string().nullable().default(null),
  inference_mode: z.boolean().default(false),
};

export const PrefixTuningConfigSchema = z.strictObject(PREFIX_TUNING_FIELDS);

export type PrefixTuningConfig = z.infer<typeof PrefixTuningConfigSchema>;
