import type { Tensor } from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { PeftkitError } from '@peftkit/io';
import type { Tf } from '@peftkit/core';
import type { ModelDims } from '@peftkit/core';
import { decoderTokenFields, labelFields, parseConfigJson } from './hf-config.ts';
import { geluErf, geluTanh } from './norms.ts';

/** Activations of GPT-2 and BERT configs that we run: tanh-approximated or exact GELU, or ReLU. */
export const ActivationSchema = z.enum(['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'gelu', 'relu']);
export type Activation = z.infer<typeof ActivationSchema>;

/** Hugging Face ACT2FN for the activations above (gelu_new, gelu_pytorch_tanh and gelu_fast are the same tanh form). */
export function activate(tf: Tf, x: Tensor, activation: Activation): Tensor {
  if (activation === 'gelu') return geluErf(tf, x);
  if (activation === 'relu') return tf.relu(x);
  return geluTanh(tf, x);
}

/**
 * GPT-2's config.json uses n_embd, n_layer, n_head, n_positions; Hugging Face also accepts the generic names
 * (its attribute_map), so both are read.
 */
const Gpt2ConfigSchema = z.looseObject({
  model_type: z.literal('gpt2'),
  n_embd: z.number().int().positive(),
  n_layer: z.number().int().positive(),
  n_head: z.number().int().positive(),
  n_positions: z.number().int().positive().default(1024),
  n_inner: z.number().int().positive().nullable().optional(),
  vocab_size: z.number().int().positive(),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  activation_function: ActivationSchema.default('gelu_new'),
  scale_attn_weights: z.boolean().default(true),
  scale_attn_by_inverse_layer_idx: z.boolean().default(false),
  tie_word_embeddings: z.boolean().default(true),
  ...labelFields,
  ...decoderTokenFields,
});

export type Gpt2ConfigJson = z.infer<typeof Gpt2ConfigSchema>;

export interface Gpt2Config {
  readonly json: Gpt2ConfigJson;
  readonly dims: ModelDims;
  readonly layerNormEps: number;
  readonly activation: Activation;
  readonly tieWordEmbeddings: boolean;
  /** Score multiplier of layer i (1/√headDim, optionally divided by i + 1). */
  attentionScale(layer: number): number;
}

const ALIASES: Record<string, string> = {
  hidden_size: 'n_embd',
  num_hidden_layers: 'n_layer',
  num_attention_heads: 'n_head',
  max_position_embeddings: 'n_positions',
};

export function parseGpt2Config(raw: unknown): Gpt2Config {
  const withAliases = typeof raw === 'object' && raw !== null ? { ...(raw as Record<string, unknown>) } : raw;
  if (typeof withAliases === 'object' && withAliases !== null) {
    const record = withAliases as Record<string, unknown>;
    for (const [alias, name] of Object.entries(ALIASES))
      if (record[name] === undefined && record[alias] !== undefined) record[name] = record[alias];
  }
  const c = parseConfigJson(Gpt2ConfigSchema, withAliases, 'GPT-2');
  const headDim = c.n_embd / c.n_head;
  if (!Number.isInteger(headDim)) {
    throw new PeftkitError(
      'PEFTKIT_E_MODEL_CONFIG',
      `n_embd (${c.n_embd}) must be a multiple of n_head (${c.n_head})`,
      {},
    );
  }
  return {
    json: c,
    dims: {
      hiddenSize: c.n_embd,
      numLayers: c.n_layer,
      numHeads: c.n_head,
      numKvHeads: c.n_head,
      headDim,
      vocabSize: c.vocab_size,
      intermediateSize: c.n_inner ?? 4 * c.n_embd,
      maxPositions: c.n_positions,
    },
    layerNormEps: c.layer_norm_epsilon,
    activation: c.activation_function,
    tieWordEmbeddings: c.tie_word_embeddings,
    attentionScale: (layer) =>
      (c.scale_attn_weights ? 1 / Math.sqrt(headDim) : 1) / (c.scale_attn_by_inverse_layer_idx ? layer + 1 : 1),
  };
}

/** Label names as Hugging Face derives them: id2label in id order, else LABEL_i for num_labels (default 2). */
export function labelsFromConfig(json: {
  id2label?: Record<string, string> | undefined;
  num_labels?: number | undefined;
}): string[] {
  const entries = Object.entries(json.id2label ?? {});
  if (entries.length > 0) return entries.sort(([a], [b]) => Number(a) - Number(b)).map(([, label]) => label);
  return Array.from({ length: json.num_labels ?? 2 }, (_, i) => `LABEL_${i}`);
}
