import {
  createModuleCopy,
  isSeqClsTask,
  type LinearSite,
  type MethodContext,
  type ModelGraph,
  modulesToSaveSites,
  withSeqClsHeads,
} from '@peftkit/core';
import type { LoraConfig } from './config.ts';
import type { BiasCopy, SavedModule, Tensor, Tensor2D } from './types.ts';

/** What LoRA trains besides A and B: biases (bias 'all' / 'lora_only') and modules_to_save copies. */

function isSeqCls(model: ModelGraph, config: LoraConfig): boolean {
  return isSeqClsTask(model, config.task_type);
}

/**
 * modules_to_save as PEFT stores it: for SEQ_CLS the classifier heads are added (PeftModelForSequenceClassification).
 */
export function effectiveModulesToSave(model: ModelGraph, config: LoraConfig): string[] | null {
  return withSeqClsHeads(config.modules_to_save, isSeqCls(model, config));
}

/**
 * The linear sites named by modules_to_save; entries that match nothing are warned about (PEFT's head names are not).
 */
export function moduleSites(ctx: MethodContext, entries: readonly string[] | null): LinearSite[] {
  return modulesToSaveSites(ctx, entries, { unknown: 'warn', plugin: 'lora' });
}

export function createSavedModule(ctx: MethodContext, site: LinearSite): SavedModule {
  return { ...createModuleCopy(ctx.tf, site), original: null };
}

export function createBiasCopy(ctx: MethodContext, site: LinearSite): BiasCopy | null {
  if (site.base.bias === null) return null;
  const b = ctx.tf.clone(site.base.bias);
  const bias = ctx.tf.variable(b, true);
  b.dispose();
  return { site, bias, original: null };
}

/** Sites whose bias this adapter trains: every linear with a bias ('all') or the adapted ones ('lora_only'). */
export function biasSites(
  model: ModelGraph,
  config: LoraConfig,
  adapted: readonly LinearSite[],
  skip: ReadonlySet<string>,
): LinearSite[] {
  if (config.bias === 'none') return [];
  const pool = config.bias === 'all' ? [...model.sites()].filter((s): s is LinearSite => s.kind === 'linear') : adapted;
  return pool.filter((s) => s.base.bias !== null && !skip.has(s.name));
}

/** Merge helpers: swap the trained copies into the base, keeping the originals to restore them exactly. */
export function mergeSavedModule(ctx: MethodContext, module: SavedModule): void {
  const { tf } = ctx;
  const base = module.site.base;
  const weight = base.weightOutIn();
  const bias = base.bias === null ? null : tf.clone(base.bias);
  base.assignOutIn(module.weight as Tensor2D);
  if (base.bias !== null && module.bias !== null) base.bias.assign(module.bias);
  module.original = { weight, bias };
}

export function unmergeSavedModule(module: SavedModule): void {
  const original = module.original;
  if (original === null) return;
  const base = module.site.base;
  base.assignOutIn(original.weight);
  if (base.bias !== null && original.bias !== null) base.bias.assign(original.bias);
  original.weight.dispose();
  original.bias?.dispose();
  module.original = null;
}

export function mergeBias(ctx: MethodContext, copy: BiasCopy): void {
  const base = copy.site.base.bias;
  if (base === null) return;
  copy.original = ctx.tf.clone(base) as Tensor;
  base.assign(copy.bias);
}

export function unmergeBias(copy: BiasCopy): void {
  const base = copy.site.base.bias;
  if (base === null || copy.original === null) return;
  base.assign(copy.original);
  copy.original.dispose();
  copy.original = null;
}
