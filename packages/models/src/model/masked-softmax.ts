import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { backendHasKernels, type Tf } from '@peftkit/core';

/** A backend's single-pass kernels (adapters/tensor/kernels/wasm-masked-softmax.ts): forward, then its gradient. */
const FUSED = 'PeftkitMaskedSoftmax';
const FUSED_GRAD = 'PeftkitMaskedSoftmaxGrad';

/**
 * Attention probabilities softmax(scale · scores + mask) over the last axis. `scores` is
 * [batch, kvHeads, group · seq, time] (query heads sharing a KV head stacked along the rows), `mask` the additive
 * [batch, 1, 1, seq, time] mask, broadcast over kvHeads and group. Where the backend has the fused kernels they run
 * one pass per direction and the mask, a constant, gets no gradient; otherwise the composed ops.
 */
export function maskedSoftmax(tf: Tf, scores: Tensor4D, mask: Tensor, scale: number, group: number): Tensor4D {
  const [batch, kvHeads, rows, time] = scores.shape;
  const seq = rows / group;
  const fusable =
    backendHasKernels(tf, FUSED, FUSED_GRAD) &&
    scores.dtype === 'float32' &&
    mask.dtype === 'float32' &&
    sameShape(mask.shape, [batch, 1, 1, seq, time]);
  if (fusable) return fusedMaskedSoftmax(tf, scores, mask, scale);
  const masked = tf.add(tf.reshape(tf.mul(scores, scale), [batch, kvHeads, group, seq, time]), mask);
  return tf.reshape(tf.softmax(masked), scores.shape);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The probabilities are saved for the backward pass; the scores are not needed again. */
function fusedMaskedSoftmax(tf: Tf, scores: Tensor4D, mask: Tensor, scale: number): Tensor4D {
  const fn = tf.customGrad((...inputs) => {
    const save = inputs[1] as (tensors: Tensor[]) => void;
    const probs = tf.engine().runKernel(FUSED, { scores: inputs[0] as Tensor, mask }, { scale }) as Tensor4D;
    save([probs]);
    const gradFunc = (dy: Tensor, saved: Tensor[]): Tensor => {
      return tf.engine().runKernel(FUSED_GRAD, { probs: saved[0] as Tensor, dy }, { scale }) as Tensor;
    };
    return { value: probs, gradFunc };
  });
  return fn(scores) as Tensor4D;
}
