import { type ModelGraph, PeftkitError } from '@peftkit/core';
import type { PrefixTuningConfig } from './config.ts';

/**
 * Sizes of one prefix adapter on one model, and the layout of PEFT's `prompt_embeddings` row.
 *
 * PEFT sizes prefixes by key/value heads (`_prepare_prompt_learning_config`, PEFT #1901): for a model whose config has
 * `num_key_value_heads`, `token_dim = hidden / num_attention_heads · num_key_value_heads` and
 * `num_attention_heads = num_key_value_heads`. A row of `prompt_embeddings` ([T, num_layers · 2 · token_dim]) is
 * viewed as [num_layers · 2, kv_heads, head_dim] and split in pairs (`past_key_values` reshape), so column
 *
 *     ((layer · 2 + part) · kv_heads + head) · head_dim + d        part 0 = key, 1 = value
 *
 * holds virtual token t's key (or value) of `layer`, `head`, component `d`.
 */
export interface PrefixGeometry {
  readonly numVirtualTokens: number;
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** Key/value width per layer: kv_heads · head_dim (PEFT's adjusted token_dim). */
  readonly tokenDim: number;
  /** num_layers · 2 · token_dim: the width of a prompt_embeddings row. */
  readonly width: number;
  readonly encoderHiddenSize: number;
}

/** Column of `prompt_embeddings` holding (layer, key|value, head, d). */
export function prefixColumn(
  g: Pick<PrefixGeometry, 'numKvHeads' | 'headDim'>,
  layer: number,
  part: 0 | 1,
  head: number,
  d: number,
): number {
  return ((layer * 2 + part) * g.numKvHeads + head) * g.headDim + d;
}

type Code = 'PEFTKIT_E_CONFIG_INVALID' | 'PEFTKIT_E_ADAPTER_CONFIG';

/** Derives the geometry from the model; given geometry fields must match it (before or after PEFT's GQA adjustment). */
export function resolveGeometry(model: ModelGraph, config: PrefixTuningConfig, code: Code): PrefixGeometry {
  const { numLayers, numHeads, numKvHeads, headDim, hiddenSize } = model.dims;
  const tokenDim = numKvHeads * headDim;
  const fail = (field: string, value: unknown, expected: string): never => {
    throw new PeftkitError(
      code,
      `${field} is ${JSON.stringify(value)} but this ${model.arch} model needs ${expected}`,
      { field, value },
    );
  };
  if (config.num_layers !== null && config.num_layers !== numLayers)
    fail('num_layers', config.num_layers, `${numLayers}`);
  if (config.num_transformer_submodules !== null && config.num_transformer_submodules !== 1) {
    fail('num_transformer_submodules', config.num_transformer_submodules, '1 (decoder-only or encoder-only models)');
  }
  const heads = config.num_attention_heads;
  if (heads !== null && heads !== numKvHeads && heads !== numHeads)
    fail('num_attention_heads', heads, `${numKvHeads} (key/value heads)`);
  // token_dim may be the hidden size (PEFT adjusts it for key/value heads) or the adjusted key/value width.
  const td = config.token_dim;
  const preAdjusted = td === hiddenSize && (heads === null || heads === numHeads);
  if (td !== null && td !== tokenDim && !preAdjusted) fail('token_dim', td, `${tokenDim} (key/value heads × head_dim)`);
  const width = numLayers * 2 * tokenDim;
  return {
    numVirtualTokens: config.num_virtual_tokens,
    numLayers,
    numKvHeads,
    headDim,
    tokenDim,
    width,
    encoderHiddenSize: config.encoder_hidden_size ?? tokenDim,
  };
}
