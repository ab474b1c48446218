import {
  createModuleCopy,
  type ForwardCall,
  isSeqClsTask,
  type LinearSite,
  type MethodContext,
  type ModelGraph,
  moduleCopyHook,
  modulesToSaveSites,
  PeftkitError,
  withSeqClsHeads,
} from '@peftkit/core';
import type { PromptLearningConfig } from './config.ts';
import type { HeadCopy, PromptDims, PromptLearningParts, Tensor2D } from './types.ts';

/**
 * What prompt tuning and P-Tuning share: model dimensions checked against the config, the virtual-token hook on
 * `model.prompts`, and the trainable classifier-head copies PEFT adds for SEQ_CLS (modules_to_save).
 */

/** Heads PEFT's PeftModelForSequenceClassification adds to modules_to_save (defined in the core). */
export { SEQ_CLS_HEADS } from '@peftkit/core';

function invalid(message: string, details: Record<string, unknown>): PeftkitError {
  return new PeftkitError('PEFTKIT_E_CONFIG_INVALID', message, details);
}

/** Fills token_dim / heads / layers from the model as PEFT does, rejecting values that contradict the model. */
export function resolveDims(model: ModelGraph, config: PromptLearningConfig): PromptDims {
  const { hiddenSize, numHeads, numLayers } = model.dims;
  if (config.token_dim !== null && config.token_dim !== hiddenSize) {
    throw invalid(`token_dim ${config.token_dim} does not match the model's hidden size ${hiddenSize}`, {
      token_dim: config.token_dim,
      hiddenSize,
    });
  }
  if (config.num_transformer_submodules !== null && config.num_transformer_submodules !== 1) {
    throw invalid(
      'num_transformer_submodules must be 1: peftkit models are decoder-only or encoder-only (no encoder-decoder)',
      {
        num_transformer_submodules: config.num_transformer_submodules,
      },
    );
  }
  return {
    numVirtualTokens: config.num_virtual_tokens,
    tokenDim: hiddenSize,
    numTransformerSubmodules: 1,
    numAttentionHeads: numHeads,
    numLayers,
  };
}

function isSeqCls(model: ModelGraph, config: PromptLearningConfig): boolean {
  return isSeqClsTask(model, config.task_type);
}

/** modules_to_save as PEFT stores it: for SEQ_CLS the classifier head names are added. */
export function effectiveModulesToSave(model: ModelGraph, config: PromptLearningConfig): string[] | null {
  return withSeqClsHeads(config.modules_to_save, isSeqCls(model, config));
}

/** Linear sites named by modules_to_save (exact name or `.name` suffix); an unknown non-head entry is an error. */
export function headSites(model: ModelGraph, entries: readonly string[] | null): LinearSite[] {
  return modulesToSaveSites({ model, log: { warn() {}, info() {} } }, entries, {
    unknown: 'error',
    plugin: 'prompt-learning',
  });
}

/** Starts a handle's shared parts: resolved dims and modules_to_save, head copies with their hooks attached. */
export function createPromptLearningParts(ctx: MethodContext, config: PromptLearningConfig): PromptLearningParts {
  const dims = resolveDims(ctx.model, config);
  const modulesToSave = effectiveModulesToSave(ctx.model, config);
  const sites = headSites(ctx.model, modulesToSave);
  const parts: PromptLearningParts = { dims, modulesToSave, heads: [], trainableVariables: [], detach: [] };
  try {
    for (const site of sites) {
      const head: HeadCopy = createModuleCopy(ctx.tf, site);
      parts.heads.push(head);
      parts.trainableVariables.push(head.weight, ...(head.bias ? [head.bias] : []));
      site.hooks.attach(ctx.adapterName, moduleCopyHook(ctx.tf, head));
      parts.detach.push(() => site.hooks.detach(ctx.adapterName));
    }
  } catch (error) {
    disposeParts(parts);
    throw error;
  }
  return parts;
}

/** Registers the adapter's virtual tokens ([num_virtual_tokens, token_dim], computed per forward call). */
export function attachPrompt(
  ctx: MethodContext,
  parts: PromptLearningParts,
  virtualTokens: (call: ForwardCall) => Tensor2D,
): void {
  ctx.model.prompts.attach(ctx.adapterName, { numVirtualTokens: parts.dims.numVirtualTokens, virtualTokens });
  parts.detach.push(() => ctx.model.prompts.detach(ctx.adapterName));
}

/** Detaches every hook and frees every variable of the handle (idempotent). */
export function disposeParts(parts: PromptLearningParts): void {
  for (const detach of parts.detach) detach();
  for (const v of parts.trainableVariables) v.dispose();
  parts.detach.length = 0;
  parts.trainableVariables.length = 0;
  parts.heads.length = 0;
}
