import { type ForwardCall, type LinearSite, type MethodContext, type ModelGraph, PeftkitError, type SiteHook } from '@peftkit/core';
import type { PromptLearningConfig } from './config.ts';
import type { HeadCopy, PromptDims, PromptLearningParts, Tensor2D, Tensor3D, Variable } from './types.ts';

/**
 * What prompt tuning and P-Tuning share: model dimensions checked against the config, the virtual-token hook on
 * `model.prompts`, and the trainable classifier-head copies PEFT adds for SEQ_CLS (modules_to_save).
 */

/** Heads PEFT's PeftModelForSequenceClassification adds to modules_to_save. */
export const SEQ_CLS_HEADS = ['classifier', 'score'] as const;

function invalid(message: string, details: Record<string, unknown>): PeftkitError {
  return new PeftkitError('PEFTKIT_E_CONFIG_INVALID', message, details);
}

/** Fills token_dim / heads / layers from the model as PEFT does, rejecting values that contradict the model. */
export function resolveDims(model: ModelGraph, config: PromptLearningConfig): PromptDims {
  const { hiddenSize, numHeads, numLayers } = model.dims;
  if (config.token_dim !== null && config.token_dim !== hiddenSize) {
    throw invalid(`token_dim ${config.token_dim} does not match the model's hidden size ${hiddenSize}`, { token_dim: config.token_dim, hiddenSize });
  }
  if (config.num_transformer_submodules !== null && config.num_transformer_submodules !== 1) {
    throw invalid('num_transformer_submodules must be 1: peftkit models are decoder-only or encoder-only (no encoder-decoder)', {
      num_transformer_submodules: config.num_transformer_submodules,
    });
  }
  return { numVirtualTokens: config.num_virtual_tokens, tokenDim: hiddenSize, numTransformerSubmodules: 1, numAttentionHeads: numHeads, numLayers };
}

function isSeqCls(model: ModelGraph, config: PromptLearningConfig): boolean {
  return config.task_type === 'SEQ_CLS' || (config.task_type === null && model.task === 'seq-cls');
}

/** modules_to_save as PEFT stores it: for SEQ_CLS the classifier head names are added. */
export function effectiveModulesToSave(model: ModelGraph, config: PromptLearningConfig): string[] | null {
  const names = config.modules_to_save === null ? null : [...config.modules_to_save];
  if (!isSeqCls(model, config)) return names;
  const out = names ?? [];
  for (const head of SEQ_CLS_HEADS) if (!out.includes(head)) out.push(head);
  return out;
}

/** Linear sites named by modules_to_save (exact name or `.name` suffix); an unknown non-head entry is an error. */
export function headSites(model: ModelGraph, entries: readonly string[] | null): LinearSite[] {
  const found: LinearSite[] = [];
  for (const entry of entries ?? []) {
    let hit = false;
    for (const site of model.sites()) {
      if (site.name !== entry && !site.name.endsWith(`.${entry}`)) continue;
      if (site.kind !== 'linear') throw invalid(`modules_to_save: '${site.name}' is not a linear module`, { site: site.name });
      hit = true;
      if (!found.includes(site)) found.push(site);
    }
    if (!hit && !(SEQ_CLS_HEADS as readonly string[]).includes(entry)) {
      throw invalid(`modules_to_save entry '${entry}' matches no module of this ${model.arch} model`, { entry });
    }
  }
  return found;
}

function headCopy(ctx: MethodContext, site: LinearSite): HeadCopy {
  const { tf } = ctx;
  const w = site.base.weightOutIn();
  const weight = tf.variable(w, true);
  w.dispose();
  let bias: Variable | null = null;
  if (site.base.bias !== null) {
    const b = tf.clone(site.base.bias);
    bias = tf.variable(b, true);
    b.dispose();
  }
  return { site, weight, bias };
}

/** The copy's output x·Wᵀ + b replaces the base module's output for this adapter's rows. */
function headHook(ctx: MethodContext, head: HeadCopy): SiteHook {
  const { tf } = ctx;
  return {
    apply(input): Tensor3D {
      const x = input as Tensor3D;
      const [b, s, d] = x.shape;
      let y = tf.matMul(tf.reshape(x, [b * s, d]) as Tensor2D, head.weight as Tensor2D, false, true);
      if (head.bias !== null) y = tf.add(y, head.bias);
      return tf.reshape(y, [b, s, -1]) as Tensor3D;
    },
  };
}

/** Starts a handle's shared parts: resolved dims and modules_to_save, head copies with their hooks attached. */
export function createPromptLearningParts(ctx: MethodContext, config: PromptLearningConfig): PromptLearningParts {
  const dims = resolveDims(ctx.model, config);
  const modulesToSave = effectiveModulesToSave(ctx.model, config);
  const sites = headSites(ctx.model, modulesToSave);
  const parts: PromptLearningParts = { dims, modulesToSave, heads: [], trainableVariables: [], detach: [] };
  try {
    for (const site of sites) {
      const head = headCopy(ctx, site);
      parts.heads.push(head);
      parts.trainableVariables.push(head.weight, ...(head.bias ? [head.bias] : []));
      site.hooks.attach(ctx.adapterName, headHook(ctx, head));
      parts.detach.push(() => site.hooks.detach(ctx.adapterName));
    }
  } catch (error) {
    disposeParts(parts);
    throw error;
  }
  return parts;
}

/** Registers the adapter's virtual tokens ([num_virtual_tokens, token_dim], computed per forward call). */
export function attachPrompt(ctx: MethodContext, parts: PromptLearningParts, virtualTokens: (call: ForwardCall) => Tensor2D): void {
  ctx.model.prompts.attach(ctx.adapterName, { virtualTokens });
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
