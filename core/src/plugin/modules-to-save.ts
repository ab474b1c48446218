import type { Tensor2D, Tensor3D, Variable } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { LinearSite, ModelGraph, SiteHook } from '../model/graph.ts';
import type { Tf } from '../runtime/types.ts';
import type { MethodContext } from './contract.ts';

/**
 * PEFT's `modules_to_save`, shared by every method that has it (LoRA, prompt tuning, P-Tuning, prefix tuning,
 * P-Tuning v2): a trainable copy of a linear module — typically the classification head, which PEFT adds for
 * SEQ_CLS — whose output replaces the base module's for the adapter's rows.
 */

/** Heads PeftModelForSequenceClassification adds to modules_to_save: BERT's `classifier`, Llama/GPT-2's `score`. */
export const SEQ_CLS_HEADS = ['classifier', 'score'] as const;

/** A trainable copy of one linear module, weight in [out, in] layout. */
export interface ModuleCopy {
  readonly site: LinearSite;
  readonly weight: Variable;
  readonly bias: Variable | null;
}

/** An entry names a module exactly, or by what follows a dot (`score`, `pooler.dense` for `bert.pooler.dense`). */
export function moduleMatches(name: string, entry: string): boolean {
  return name === entry || name.endsWith(`.${entry}`);
}

/** modules_to_save as PEFT stores it: the user's list, plus the classification heads when the task is SEQ_CLS. */
export function withSeqClsHeads(entries: readonly string[] | null, seqCls: boolean): string[] | null {
  if (!seqCls) return entries === null ? null : [...entries];
  const names = [...(entries ?? [])];
  for (const head of SEQ_CLS_HEADS) if (!names.includes(head)) names.push(head);
  return names;
}

/**
 * The linear sites modules_to_save names. A non-linear match is a config error; an entry matching nothing is
 * warned about (`'warn'`, as PEFT) or refused (`'error'`) — except PEFT's default head names, absent on some models.
 */
export function modulesToSaveSites(
  ctx: Pick<MethodContext, 'model' | 'log'>,
  entries: readonly string[] | null,
  options: { unknown: 'warn' | 'error'; plugin: string },
): LinearSite[] {
  const found: LinearSite[] = [];
  for (const entry of entries ?? []) {
    let hit = false;
    for (const site of ctx.model.sites()) {
      if (!moduleMatches(site.name, entry)) continue;
      if (site.kind !== 'linear') {
        throw new PeftkitError(
          'PEFTKIT_E_CONFIG_INVALID',
          `modules_to_save: '${site.name}' is not a linear module; only linear modules can be saved`,
          {
            site: site.name,
          },
        );
      }
      hit = true;
      if (!found.includes(site)) found.push(site);
    }
    if (hit || (SEQ_CLS_HEADS as readonly string[]).includes(entry)) continue;
    const message =
      `${options.plugin}: modules_to_save entry '${entry}' matches no module ` + `of this ${ctx.model.arch} model`;
    if (options.unknown === 'error') throw new PeftkitError('PEFTKIT_E_CONFIG_INVALID', message, { entry });
    ctx.log.warn(message);
  }
  return found;
}

/** A trainable copy of `site`, starting from its base weights (PEFT's ModulesToSaveWrapper). */
export function createModuleCopy(tf: Tf, site: LinearSite): ModuleCopy {
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

/** The hook that computes x·Wᵀ + b with the copy, replacing the base output for the rows it applies to. */
export function moduleCopyHook(tf: Tf, copy: Pick<ModuleCopy, 'weight' | 'bias'>): SiteHook {
  return {
    apply(input): Tensor3D {
      const x = input as Tensor3D;
      const [b, s, d] = x.shape;
      const y = tf.matMul(tf.reshape(x, [b * s, d]) as Tensor2D, copy.weight as Tensor2D, false, true);
      return tf.reshape(copy.bias === null ? y : tf.add(y, copy.bias), [b, s, -1]) as Tensor3D;
    },
  };
}

/** True when the model is trained for sequence classification under this config's task_type. */
export function isSeqClsTask(model: ModelGraph, taskType: string | null | undefined): boolean {
  return taskType === 'SEQ_CLS' || ((taskType === null || taskType === undefined) && model.task === 'seq-cls');
}
