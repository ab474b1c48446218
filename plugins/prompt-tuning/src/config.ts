import { z } from '@peftkit/core';

/** PEFT task types (`TaskType`). SEQ_CLS additionally trains a copy of the classifier head (modules_to_save). */
export const TASK_TYPES = [
  'CAUSAL_LM',
  'SEQ_CLS',
  'SEQ_2_SEQ_LM',
  'TOKEN_CLS',
  'QUESTION_ANS',
  'FEATURE_EXTRACTION',
] as const;

/**
 * The fields every PEFT `PromptLearningConfig` has (PROMPT_TUNING, P_TUNING, PREFIX_TUNING), with PEFT's names and
 * defaults. `token_dim`, `num_attention_heads` and `num_layers` are filled from the model when null, as PEFT does.
 */
export const promptLearningFields = {
  num_virtual_tokens: z.number().int().positive().default(20),
  token_dim: z.number().int().positive().nullable().default(null),
  /** 1 for decoder-only and encoder models; PEFT uses 2 for encoder-decoder models, which peftkit does not have. */
  num_transformer_submodules: z.number().int().positive().nullable().default(null),
  num_attention_heads: z.number().int().positive().nullable().default(null),
  num_layers: z.number().int().positive().nullable().default(null),
  modules_to_save: z.array(z.string().min(1)).nullable().default(null),
  task_type: z.enum(TASK_TYPES).nullable().default(null),
  base_model_name_or_path: z.string().nullable().default(null),
  revision: z.string().nullable().default(null),
  inference_mode: z.boolean().default(false),
};

/** PEFT's `PromptTuningConfig`. Strict: unknown keys are rejected (loading a saved file is lenient, see persist.ts). */
export const PromptTuningConfigSchema = z
  .strictObject({
    ...promptLearningFields,
    prompt_tuning_init: z.enum(['RANDOM', 'SAMPLE_VOCAB', 'TEXT']).default('RANDOM'),
    prompt_tuning_init_text: z.string().nullable().default(null),
    /** Accepted and ignored: the model's own tokenizer (the `MethodContext` one) encodes the init text. */
    tokenizer_name_or_path: z.string().nullable().default(null),
    tokenizer_kwargs: z.record(z.string(), z.unknown()).nullable().default(null),
  })
  .superRefine((c, ctx) => {
    // Same check as PromptTuningConfig.__post_init__.
    if (c.prompt_tuning_init === 'TEXT' && (c.prompt_tuning_init_text === null || c.prompt_tuning_init_text === '')) {
      ctx.addIssue({
        code: 'custom',
        path: ['prompt_tuning_init_text'],
        message: "prompt_tuning_init 'TEXT' needs prompt_tuning_init_text",
      });
    }
  });

export type PromptTuningConfig = z.infer<typeof PromptTuningConfigSchema>;

/** The prompt-learning fields as parsed (shared by prompt tuning and P-Tuning). */
export interface PromptLearningConfig {
  readonly num_virtual_tokens: number;
  readonly token_dim: number | null;
  readonly num_transformer_submodules: number | null;
  readonly num_attention_heads: number | null;
  readonly num_layers: number | null;
  readonly modules_to_save: readonly string[] | null;
  readonly task_type: (typeof TASK_TYPES)[number] | null;
  readonly base_model_name_or_path: string | null;
  readonly revision: string | null;
  readonly inference_mode: boolean;
}
