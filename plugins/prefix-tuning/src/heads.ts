import { type LinearSite, type MethodContext, type ModelGraph, PeftkitError, type SiteHook, type Tf } from '@peftkit/core';
import { type PrefixTuningConfig, SEQ_CLS_HEADS } from './config.ts';
import type { HeadCopy, Tensor2D, Tensor3D, Variable } from './types.ts';

/**
 * modules_to_save for prompt-learning adapters: PEFT's PeftModelForSequenceClassification trains a copy of the
 * classifier head (`classifier` for BERT, `score` for Llama/GPT-2) next to the prefix and saves it as
 * `base_model.<module>.weight` / `.bias` (prompt-learning models have no `.model.` wrapper in their keys).
 */

export function isSeqCls(model: ModelGraph, config: PrefixTuningConfig): boolean {
  return config.task_type === 'SEQ_CLS' || (config.task_type === null && model.task === 'seq-cls');
}

/** modules_to_save as PEFT stores it: for SEQ_CLS `classifier` and `score` are appended. */
export function effectiveModulesToSave(model: ModelGraph, config: PrefixTuningConfig): string[] | null {
  if (!isSeqCls(model, config)) return config.modules_to_save === null ? null : [...config.modules_to_save];
  const names = [...(config.modules_to_save ?? [])];
  for (const head of SEQ_CLS_HEADS) if (!names.includes(head)) names.push(head);
  return names;
}

/** Exact module name, or the part after a dot (`score` matches `score`, `pooler.dense` matches `bert.pooler.dense`). */
function matches(name: string, entry: string): boolean {
  return name === entry || name.endsWith(`.${entry}`);
}

/** The linear sites modules_to_save names; non-linear matches are refused, unmatched user entries warned about. */
export function headSites(ctx: MethodContext, entries: readonly string[] | null, seqCls: boolean): LinearSite[] {
  const found: LinearSite[] = [];
  for (const entry of entries ?? []) {
    let hit = false;
    for (const site of ctx.model.sites()) {
      if (!matches(site.name, entry)) continue;
      if (site.kind !== 'linear') {
        throw new PeftkitError('PEFTKIT_E_CONFIG_INVALID', `modules_to_save: '${site.name}' is not a linear module; only linear modules can be saved`, {
          site: site.name,
        });
      }
      hit = true;
      if (!found.includes(site)) found.push(site);
    }
    const defaultHead = seqCls && (SEQ_CLS_HEADS as readonly string[]).includes(entry);
    if (!hit && !defaultHead) ctx.log.warn(`modules_to_save entry '${entry}' matches no module of this ${ctx.model.arch} model`);
  }
  return found;
}

/** A trainable copy of the head, starting from the base weights (as PEFT's ModulesToSaveWrapper). */
export function createHeadCopy(ctx: MethodContext, site: LinearSite): HeadCopy {
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

/** The copy computes the output of the rows selected for this adapter. */
export function headHook(tf: Tf, head: HeadCopy): SiteHook {
  return {
    apply(input): Tensor3D {
      const x = input as Tensor3D;
      const [batch, seq, features] = x.shape;
      const y = tf.matMul(tf.reshape(x, [batch * seq, features]) as Tensor2D, head.weight as Tensor2D, false, true);
      const out = head.bias === null ? y : tf.add(y, head.bias);
      return tf.reshape(out, [batch, seq, -1]) as Tensor3D;
    },
  };
}
