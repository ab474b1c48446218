import { collate } from './collate.ts';
import type { AdapterSelection } from '../model/graph.ts';
import type { Tf } from '../runtime/types.ts';
import { batchLossSum, checkBatchLabels, type TrainableModel } from './loss.ts';
import type { TrainExample } from './types.ts';

export interface EvaluateOptions {
  readonly padId: number;
  readonly batchSize: number;
  /** Adapters to apply (default: the base model alone). */
  readonly selection?: AdapterSelection;
}

export interface EvaluationResult {
  /** Mean loss per loss token (causal LM) or per example (classification). */
  readonly loss: number;
  readonly perplexity: number;
  /** Classification only. */
  readonly accuracy?: number;
  readonly examples: number;
  readonly lossTokens: number;
}

/**
 * Loss over a whole data set without dropout: summed over every loss token and divided once at the end, so the
 * batch size does not change the result. Perplexity is exp(loss); accuracy counts argmax hits (classification).
 */
export function evaluate(
  tf: Tf,
  model: TrainableModel,
  data: readonly TrainExample[],
  options: EvaluateOptions,
): EvaluationResult {
  let sum = 0;
  let lossTokens = 0;
  let correct = 0;
  let classification = false;
  const forward = options.selection ? { selection: options.selection, training: false } : { training: false };
  for (let start = 0; start < data.length; start += options.batchSize) {
    const batch = collate(data.slice(start, start + options.batchSize), { padId: options.padId });
    checkBatchLabels(batch, model.dims.vocabSize);
    lossTokens += batch.lossTokens;
    if (batch.lossTokens === 0) continue;
    classification = batch.classLabels !== undefined;
    const result = batchLossSum(tf, model, batch, forward, classification);
    sum += (result.sum.dataSync() as Float32Array)[0] as number;
    result.sum.dispose();
    if (result.correct) {
      correct += (result.correct.dataSync() as Float32Array)[0] as number;
      result.correct.dispose();
    }
  }
  const loss = lossTokens === 0 ? Number.NaN : sum / lossTokens;
  const base = { loss, perplexity: Math.exp(loss), examples: data.length, lossTokens };
  return classification ? { ...base, accuracy: correct / data.length } : base;
}
