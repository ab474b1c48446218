import { z } from '@peftkit/core';

/**
 * Request bodies. Inference bodies ignore unknown fields (OpenAI-compatible clients send extras such as `user` or
 * `presence_penalty`); every field the server reads is type- and range-checked. Admin bodies are strict.
 */
const stop = z.union([z.string(), z.array(z.string()).max(8)]).nullish();
const tokenIds = z.array(z.number().int().nonnegative()).min(1);

/** A field this server does not implement: absent, null, false or the default value only (a silent ignore misleads). */
const unsupported = (what: string, ...defaults: unknown[]) =>
  z
    .unknown()
    .refine((v) => v === null || v === false || defaults.includes(v), {
      message: `${what} is not supported by this server`,
    })
    .optional();

const sampling = {
  max_tokens: z.number().int().min(0).max(4096).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(-1).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  seed: z.number().int().nullish(),
  stop,
  n: z.literal(1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  model: z.string().max(2048).nullish(),
};

export const CompletionBody = z.object({
  ...sampling,
  best_of: unsupported('best_of other than 1', 1),
  logprobs: unsupported('logprobs'),
  prompt: z.union([z.string(), z.array(z.string()).min(1).max(64), tokenIds, z.array(tokenIds).min(1).max(64)]),
  echo: z.literal(false).nullish(),
});
export type CompletionBody = z.infer<typeof CompletionBody>;

const content = z.union([z.string(), z.array(z.object({ type: z.literal('text'), text: z.string() })).min(1)]);
export const ChatBody = z.object({
  ...sampling,
  logprobs: unsupported('logprobs'),
  top_logprobs: unsupported('top_logprobs', 0),
  max_completion_tokens: z.number().int().min(0).max(4096).nullish(),
  messages: z
    .array(
      z.object({ role: z.enum(['system', 'user', 'assistant', 'developer', 'tool']), content: content.nullable() }),
    )
    .min(1)
    .max(256),
});
export type ChatBody = z.infer<typeof ChatBody>;

export const LoraxBody = z.object({
  inputs: z.string().min(1),
  parameters: z
    .object({
      adapter_id: z.string().max(256).nullish(),
      adapter_source: z.string().nullish(),
      max_new_tokens: z.number().int().min(0).max(4096).nullish(),
      temperature: z.number().min(0).max(2).nullish(),
      top_k: z.number().int().min(0).nullish(),
      top_p: z.number().gt(0).max(1).nullish(),
      repetition_penalty: z.number().gt(0).nullish(),
      do_sample: z.boolean().nullish(),
      stop: z.array(z.string()).max(8).nullish(),
      seed: z.number().int().nullish(),
      details: z.boolean().nullish(),
      merged_adapters: z
        .object({
          ids: z.array(z.string().max(256)).min(1).max(16),
          weights: z.array(z.number()).min(1).max(16),
          merge_strategy: z.string().nullish(),
          density: z.number().gt(0).lte(1).nullish(),
          majority_sign_method: z.enum(['total', 'frequency']).nullish(),
        })
        .nullish(),
    })
    .nullish(),
});
export type LoraxBody = z.infer<typeof LoraxBody>;

export const ClassifyBody = z.object({
  model: z.string().max(2048).nullish(),
  input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(64)]),
});

export const LoadLoraBody = z.strictObject({
  lora_name: z.string().min(1).max(256),
  lora_path: z.string().min(1).max(4096),
  load_inplace: z.boolean().optional(),
  base_model_name: z.string().optional(),
});

export const UnloadLoraBody = z.strictObject({
  lora_name: z.string().min(1).max(256),
  lora_int_id: z.number().int().optional(),
});

export const PutAdapterBody = z.strictObject({
  path: z.string().min(1).max(4096).optional(),
  pin: z.boolean().optional(),
});
