import { definePlugin, type MethodContext, type MethodPlugin, type SavedAdapter } from '@peftkit/core';
import { type PromptTuningConfig, PromptTuningConfigSchema } from './config.ts';
import { initialPrompt } from './init.ts';
import {
  assertFinite,
  headTensors,
  loadHeads,
  PROMPT_EMBEDDINGS,
  parseSavedConfig,
  promptLearningConfigFields,
  takeTensor,
  warnUnused,
} from './persist.ts';
import { attachPrompt, createPromptLearningParts, disposeParts } from './prompt-learning.ts';
import type { PromptTuningHandle, Tensor2D } from './types.ts';

export const PLUGIN_VERSION = '0.1.0';
const NAME = 'prompt-tuning';

/** Creates the virtual-token variable and attaches it as the adapter's prompt; nothing stays attached on failure. */
export function injectPromptTuning(ctx: MethodContext, config: PromptTuningConfig): PromptTuningHandle {
  const parts = createPromptLearningParts(ctx, config);
  try {
    const { numVirtualTokens, tokenDim } = parts.dims;
    const init = initialPrompt(ctx, config, numVirtualTokens, tokenDim);
    const embedding = ctx.tf.variable(init, true);
    init.dispose();
    parts.trainableVariables.unshift(embedding);
    // The variable itself is the prompt: the core concatenates it inside its tidy, so nothing is allocated here.
    attachPrompt(ctx, parts, () => embedding as Tensor2D);
    return { ...parts, embedding };
  } catch (error) {
    disposeParts(parts);
    throw error;
  }
}

function taskFallback(ctx: MethodContext): string {
  return ctx.model.task === 'seq-cls' ? 'SEQ_CLS' : 'CAUSAL_LM';
}

export function savePromptTuning(
  ctx: MethodContext,
  handle: PromptTuningHandle,
  config: PromptTuningConfig,
): SavedAdapter {
  const fields = promptLearningConfigFields(
    handle,
    config,
    'PROMPT_TUNING',
    `peftkit-${NAME}@${PLUGIN_VERSION}`,
    taskFallback(ctx),
  );
  return {
    config: {
      ...fields,
      prompt_tuning_init: config.prompt_tuning_init,
      prompt_tuning_init_text: config.prompt_tuning_init_text,
      tokenizer_name_or_path: config.tokenizer_name_or_path,
      tokenizer_kwargs: config.tokenizer_kwargs,
    },
    tensors: { [PROMPT_EMBEDDINGS]: ctx.tf.clone(handle.embedding), ...headTensors(ctx, handle) },
  };
}

export function loadPromptTuning(
  ctx: MethodContext,
  saved: SavedAdapter,
): { handle: PromptTuningHandle; config: PromptTuningConfig } {
  const parsed = parseSavedConfig(ctx, saved.config, PromptTuningConfigSchema, NAME);
  // The saved tensor replaces the initial prompt, so TEXT init (which needs a tokenizer) is not re-run.
  const config: PromptTuningConfig = { ...parsed, prompt_tuning_init: 'RANDOM' };
  const handle = injectPromptTuning(ctx, config);
  const used = new Set<string>();
  try {
    const prompt = takeTensor(saved, [PROMPT_EMBEDDINGS], handle.embedding.shape, used);
    assertFinite(prompt, PROMPT_EMBEDDINGS);
    handle.embedding.assign(prompt);
    loadHeads(ctx, handle, saved, used);
  } catch (error) {
    disposeParts(handle);
    throw error;
  }
  warnUnused(ctx, saved, used, NAME);
  return { handle, config: parsed };
}

/** Prompt tuning (Lester et al. 2021) as a peftkit method plugin, reading and writing PEFT's PROMPT_TUNING format. */
export const promptTuning: MethodPlugin<PromptTuningConfig, PromptTuningHandle> = definePlugin<
  PromptTuningConfig,
  PromptTuningHandle
>({
  meta: {
    name: NAME,
    version: PLUGIN_VERSION,
    core: '^1.0.0',
    family: 'prompt',
    peftType: 'PROMPT_TUNING',
    description: 'Prompt tuning: trainable virtual-token embeddings prepended to the input, in PEFT format',
  },
  configSchema: PromptTuningConfigSchema,
  capabilities: { merge: 'never', identityAtInit: false, mixedBatch: true },
  inject: injectPromptTuning,
  save: savePromptTuning,
  load: loadPromptTuning,
  dispose: (_ctx, handle) => disposeParts(handle),
});
