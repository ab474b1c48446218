import { type MethodContext, PeftkitError } from '@peftkit/core';
import type { PromptTuningConfig } from './config.ts';
import type { Tensor2D } from './types.ts';

/** PEFT's TEXT init ids: the text's ids cut to `count`, or repeated whole and then cut when shorter. */
export function repeatToLength(ids: readonly number[], count: number): number[] {
  if (ids.length === 0)
    throw new PeftkitError('PEFTKIT_E_CONFIG_INVALID', 'prompt_tuning_init_text encodes to no tokens', {});
  if (ids.length >= count) return ids.slice(0, count);
  const reps = Math.ceil(count / ids.length);
  return Array.from({ length: reps }, () => ids)
    .flat()
    .slice(0, count);
}

/** Token ids whose embeddings start the prompt (SAMPLE_VOCAB, TEXT); null for RANDOM. */
export function initTokenIds(ctx: MethodContext, config: PromptTuningConfig, count: number): number[] | null {
  const vocab = ctx.model.dims.vocabSize;
  if (config.prompt_tuning_init === 'RANDOM') return null;
  if (config.prompt_tuning_init === 'SAMPLE_VOCAB') return Array.from({ length: count }, () => ctx.rng.int(vocab));
  if (ctx.tokenizer === undefined) {
    throw new PeftkitError(
      'PEFTKIT_E_TOKENIZER_MISSING',
      "prompt_tuning_init 'TEXT' needs the model's tokenizer (pass it to kernel.adapters(model, { tokenizer }))",
      {},
    );
  }
  // Like PEFT's `tokenizer(text)["input_ids"]`: the tokenizer's own defaults decide on BOS/EOS.
  const ids = repeatToLength(ctx.tokenizer.encode(config.prompt_tuning_init_text ?? ''), count);
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
  if (bad !== undefined) {
    throw new PeftkitError(
      'PEFTKIT_E_CONFIG_INVALID',
      `the tokenizer produced id ${bad}, outside the model's vocabulary (${vocab})`,
      { id: bad },
    );
  }
  return ids;
}

/** Initial virtual-token embeddings [count, dim]: N(0, 1) as torch's nn.Embedding, or copies of token embeddings. */
export function initialPrompt(ctx: MethodContext, config: PromptTuningConfig, count: number, dim: number): Tensor2D {
  const ids = initTokenIds(ctx, config, count);
  if (ids === null) return ctx.tf.tensor2d(ctx.rng.normalArray(count * dim, 0, 1), [count, dim], 'float32');
  return ctx.model.embed(ids);
}
