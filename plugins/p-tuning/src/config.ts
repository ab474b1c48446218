import { z } from '@peftkit/core';
import { promptLearningFields } from '@peftkit/prompt-tuning';

/**
 * PEFT's `PromptEncoderConfig` (peft_type P_TUNING). Strict: unknown keys are
 * rejected (saved files are read leniently).
 */
export const PTuningConfigSchema = z.strictObject({
  ...promptLearningFields,
  encoder_reparameterization_type: z.enum(['MLP', 'LSTM']).default('MLP'),
  /** null: the model's hidden size (PEFT fills it the same way). */
  encoder_hidden_size: z.number().int().positive().nullable().default(null),
  /** LSTM layers; PEFT's MLP always has exactly 2 hidden layers and ignores this (with a warning). */
  encoder_num_layers: z.number().int().positive().default(2),
  /** Dropout between stacked LSTM layers while training (torch.nn.LSTM's `dropout`); unused by the MLP, as in PEFT. */
  encoder_dropout: z.number().min(0).lt(1).default(0),
});

export type PTuningConfig = z.infer<typeof PTuningConfigSchema>;
