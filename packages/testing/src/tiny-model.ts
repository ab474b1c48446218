import type { ModelTask } from '@peftkit/core';
import { LlamaModel } from '@peftkit/models';
import type { Tf } from '@peftkit/core';
import { Rng } from '@peftkit/core';

/** Config of the tiny reference Llama used by tests and the conformance kit (grouped-query attention on purpose). */
export const TINY_LLAMA_CONFIG = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
  hidden_size: 16,
  intermediate_size: 40,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 64,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
} as const;

/** A seeded random tiny Llama; the same seed always gives the same weights. */
export function createTinyLlama(
  tf: Tf,
  options: { seed?: number; task?: ModelTask; labels?: readonly string[] } = {},
): LlamaModel {
  const modelOptions: { task?: ModelTask; labels?: readonly string[] } = { task: options.task ?? 'causal-lm' };
  if (options.labels) modelOptions.labels = options.labels;
  return new LlamaModel(
    tf,
    TINY_LLAMA_CONFIG,
    { kind: 'random', rng: new Rng(options.seed ?? 1234), std: 0.2 },
    modelOptions,
  );
}

/** A fixed small batch of token ids for the tiny model. */
export function tinyBatch(rows = 3, seq = 7, seed = 99): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: rows }, () =>
    Array.from({ length: seq }, () => 1 + rng.int(TINY_LLAMA_CONFIG.vocab_size - 1)),
  );
}
