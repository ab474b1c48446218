import { z } from 'zod';
import { PeftkitError } from '@peftkit/io';
import { type Activation, ActivationSchema } from './gpt2-config.ts';
import type { ModelDims } from '@peftkit/core';
import { labelFields, parseConfigJson } from './hf-config.ts';

/** The fields of a Hugging Face BertConfig that change the math; other keys are kept but ignored. */
const BertConfigSchema = z.looseObject({
  model_type: z.literal('bert'),
  hidden_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  vocab_size: z.number().int().positive(),
  max_position_embeddings: z.number().int().positive().default(512),
  type_vocab_size: z.number().int().positive().default(2),
  layer_norm_eps: z.number().positive().default(1e-12),
  hidden_act: ActivationSchema.default('gelu'),
  // Relative position variants and the decoder mode change the attention itself; they are refused, not ignored.
  position_embedding_type: z.literal('absolute').default('absolute'),
  is_decoder: z.literal(false).default(false),
  ...labelFields,
});

export type BertConfigJson = z.infer<typeof BertConfigSchema>;

export interface BertConfig {
  readonly json: BertConfigJson;
  readonly dims: ModelDims;
  readonly typeVocabSize: number;
  readonly layerNormEps: number;
  readonly activation: Activation;
}

export function parseBertConfig(raw: unknown): BertConfig {
  const c = parseConfigJson(BertConfigSchema, raw, 'BERT');
  const headDim = c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim)) {
    throw new PeftkitError(
      'PEFTKIT_E_MODEL_CONFIG',
      `hidden_size (${c.hidden_size}) must be a multiple of num_attention_heads (${c.num_attention_heads})`,
      {},
    );
  }
  return {
    json: c,
    dims: {
      hiddenSize: c.hidden_size,
      numLayers: c.num_hidden_layers,
      numHeads: c.num_attention_heads,
      numKvHeads: c.num_attention_heads,
      headDim,
      vocabSize: c.vocab_size,
      intermediateSize: c.intermediate_size,
      maxPositions: c.max_position_embeddings,
    },
    typeVocabSize: c.type_vocab_size,
    layerNormEps: c.layer_norm_eps,
    activation: c.hidden_act,
  };
}
