import {
  createModuleCopy,
  isSeqClsTask,
  type LinearSite,
  type MethodContext,
  type ModelGraph,
  moduleCopyHook,
  modulesToSaveSites,
  type SiteHook,
  type Tf,
  withSeqClsHeads,
} from '@peftkit/core';
import type { PrefixTuningConfig } from './config.ts';
import type { HeadCopy } from './types.ts';

/**
 * modules_to_save for prompt-learning adapters: PEFT's PeftModelForSequenceClassification trains a copy of the
 * classifier head (`classifier` for BERT, `score` for Llama/GPT-2) next to the prefix and saves it as
 * `base_model.<module>.weight` / `.bias` (prompt-learning models have no `.model.` wrapper in their keys).
 */

export function isSeqCls(model: ModelGraph, config: PrefixTuningConfig): boolean {
  return isSeqClsTask(model, config.task_type);
}

/** modules_to_save as PEFT stores it: for SEQ_CLS `classifier` and `score` are appended. */
export function effectiveModulesToSave(model: ModelGraph, config: PrefixTuningConfig): string[] | null {
  return withSeqClsHeads(config.modules_to_save, isSeqCls(model, config));
}

/** The linear sites modules_to_save names; non-linear matches are refused, unmatched user entries warned about. */
export function headSites(ctx: MethodContext, entries: readonly string[] | null): LinearSite[] {
  return modulesToSaveSites(ctx, entries, { unknown: 'warn', plugin: 'prefix-tuning' });
}

/** A trainable copy of the head, starting from the base weights (as PEFT's ModulesToSaveWrapper). */
export function createHeadCopy(ctx: MethodContext, site: LinearSite): HeadCopy {
  return createModuleCopy(ctx.tf, site);
}

/** The copy computes the output of the rows selected for this adapter. */
export function headHook(tf: Tf, head: HeadCopy): SiteHook {
  return moduleCopyHook(tf, head);
}
