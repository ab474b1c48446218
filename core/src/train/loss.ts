import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { ForwardInput, ForwardOptions, LoadedModelGraph } from '../model/forward.ts';
import type { Tf } from '../runtime/types.ts';
import { weightedCrossEntropySum } from './cross-entropy.ts';
import { IGNORE_INDEX, type TrainBatch } from './types.ts';

/** What the loss needs from a model: `forward` for causal LMs, `classify` for sequence classification. */
export type TrainableModel = Pick<LoadedModelGraph, 'task' | 'dims' | 'labels' | 'classify'> &
  Partial<Pick<LoadedModelGraph, 'forward'>>;

function forwardInput(batch: TrainBatch): ForwardInput {
  return batch.tokenTypes
    ? { ids: batch.ids, mask: batch.mask, tokenTypes: batch.tokenTypes }
    : { ids: batch.ids, mask: batch.mask };
}

/**
 * Summed (not averaged) loss of one batch, so micro-batches add up and the caller divides by the step's loss
 * tokens. Causal LM: next-token cross-entropy, shifted by one as transformers does (position i predicts labels[i+1]),
 * positions labelled IGNORE_INDEX skipped. Classification: cross-entropy of `classify` over the batch's class labels.
 * `correct` counts right predictions (classification only; a tensor the caller disposes).
 */
export function batchLossSum(
  tf: Tf,
  model: TrainableModel,
  batch: TrainBatch,
  options: ForwardOptions,
  withAccuracy = false,
): { sum: Scalar; correct: Tensor | null } {
  if (batch.classLabels) {
    const labels = batch.classLabels;
    const count = model.labels?.length ?? 0;
    for (const [i, label] of labels.entries()) {
      if (!Number.isInteger(label) || label < 0 || label >= count) {
        throw new PeftkitError(
          'PEFTKIT_E_DATA',
          `class label ${label} of batch row ${i} is outside the model's ${count} labels`,
          { row: i, label },
        );
      }
    }
    let correct: Tensor | null = null;
    const sum = tf.tidy(() => {
      const logits = model.classify(forwardInput(batch), options);
      const target = tf.tensor1d(labels as number[], 'int32');
      if (withAccuracy) correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), target), 'float32')));
      const logp = tf.logSoftmax(logits);
      return tf.neg(tf.sum(tf.mul(tf.oneHot(target, count), logp))) as Scalar;
    });
    return { sum, correct };
  }
  const rows = batch.labels;
  if (!rows) throw new PeftkitError('PEFTKIT_E_DATA', 'a language-modelling batch needs labels', {});
  if (typeof model.forward !== 'function' || model.task !== 'causal-lm') {
    throw new PeftkitError('PEFTKIT_E_MODEL_TASK', 'language-modelling examples need a causal language model', {
      task: model.task,
    });
  }
  const forward = model.forward.bind(model);
  const b = rows.length;
  const s = rows[0]?.length ?? 0;
  const v = model.dims.vocabSize;
  // Position t of row r predicts rows[r][t + 1]; the last position and IGNORE_INDEX labels get weight 0. The fused
  // loss (cross-entropy.ts) never materialises a one-hot or a scatter of the [positions, vocab] scores.
  const targets: number[] = [];
  const weights: number[] = [];
  for (let r = 0; r < b; r++) {
    const row = rows[r] as readonly number[];
    for (let t = 0; t < s; t++) {
      const label = t + 1 < s ? (row[t + 1] as number) : IGNORE_INDEX;
      targets.push(label === IGNORE_INDEX ? 0 : label);
      weights.push(label === IGNORE_INDEX ? 0 : 1);
    }
  }
  const sum = tf.tidy(() => {
    const logits = forward(forwardInput(batch), options);
    return weightedCrossEntropySum(tf, tf.reshape(logits, [b * s, v]) as Tensor2D, targets, weights);
  });
  return { sum, correct: null };
}

/** Rejects label ids the model cannot predict before any tensor work. */
export function checkBatchLabels(batch: TrainBatch, vocabSize: number): void {
  for (const [r, row] of (batch.labels ?? []).entries()) {
    for (const l of row) {
      if (l !== IGNORE_INDEX && (!Number.isInteger(l) || l < 0 || l >= vocabSize)) {
        throw new PeftkitError(
          'PEFTKIT_E_DATA',
          `label ${l} in batch row ${r} is outside the vocabulary (size ${vocabSize})`,
          { row: r, label: l },
        );
      }
    }
  }
}
