import { z } from '@peftkit/core';
import { PREFIX_TUNING_FIELDS } from '@peftkit/prefix-tuning';

/**
 * P-Tuning v2 = PEFT's PrefixTuningConfig (THUDM's `pre_seq_len` ↔ `num_virtual_tokens`, `prefix_hidden_size` ↔
 * `encoder_hidden_size`, `prefix_projection` the same) plus THUDM's dropout on the prefix. `task_type` defaults to
 * the model's task; for SEQ_CLS the classifier head is trained and saved (modules_to_save).
 */
export const PTuningV2ConfigSchema = z.strictObject({
  ...PREFIX_TUNING_FIELDS,
  /** Dropout on the per-layer prefixes while training (THUDM: hidden_dropout_prob, 0.1). Not part of PEFT's file. */
  prefix_dropout: z.number().min(0).lt(1).default(0.1),
});

export type PTuningV2Config = z.infer<typeof PTuningV2ConfigSchema>;
