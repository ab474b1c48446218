import { z } from 'zod';
import { PeftkitError } from '@peftkit/io';
import type { ModelDims } from '@peftkit/core';
import { decoderTokenFields, labelFields, parseConfigJson } from './hf-config.ts';

/** The fields of a Hugging Face Llama-family config.json that change the math; other keys are kept but ignored. */
const LlamaConfigSchema = z.looseObject({
  model_type: z.enum(['llama', 'mistral', 'qwen2']).default('llama'),
  hidden_size: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_key_value_heads: z.number().int().positive().optional(),
  head_dim: z.number().int().positive().optional(),
  vocab_size: z.number().int().positive(),
  max_position_embeddings: z.number().int().positive().default(2048),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  hidden_act: z.literal('silu').default('silu'),
  ...labelFields,
  ...decoderTokenFields,
});

export type LlamaConfigJson = z.infer<typeof LlamaConfigSchema>;

export interface LlamaConfig {
  readonly json: LlamaConfigJson;
  readonly dims: ModelDims;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly tieWordEmbeddings: boolean;
  /** Bias on q, k, v (Qwen2 always; Llama when attention_bias). */
  readonly qkvBias: boolean;
  readonly outputBias: boolean;
  readonly mlpBias: boolean;
}

export function parseLlamaConfig(raw: unknown): LlamaConfig {
  const c = parseConfigJson(LlamaConfigSchema, raw, 'Llama');
  const numKvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new PeftkitError('PEFTKIT_E_MODEL_CONFIG', `head dimension ${headDim} must be an even integer`, { headDim });
  }
  if (c.num_attention_heads % numKvHeads !== 0) {
    throw new PeftkitError(
      'PEFTKIT_E_MODEL_CONFIG',
      `num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${numKvHeads})`,
      {},
    );
  }
  return {
    json: c,
    dims: {
      hiddenSize: c.hidden_size,
      numLayers: c.num_hidden_layers,
      numHeads: c.num_attention_heads,
      numKvHeads,
      headDim,
      vocabSize: c.vocab_size,
      intermediateSize: c.intermediate_size,
      maxPositions: c.max_position_embeddings,
    },
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    tieWordEmbeddings: c.tie_word_embeddings,
    qkvBias: c.attention_bias || c.model_type === 'qwen2',
    outputBias: c.attention_bias,
    mlpBias: c.mlp_bias,
  };
}
