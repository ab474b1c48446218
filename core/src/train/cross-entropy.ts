import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { backendHasKernels } from '../runtime/backend-kernels.ts';
import type { Tf } from '../runtime/types.ts';

/**
 * A backend's single-pass kernels (adapters/tensor/kernels/wasm-cross-entropy.ts): loss + softmax, then its gradient.
 */
const FUSED = 'PeftkitSoftmaxCrossEntropy';
const FUSED_GRAD = 'PeftkitSoftmaxCrossEntropyGrad';

/** Rows of [rows, vocab] scores handled at once in the backward pass: bounds its temporaries to ~4 × CHUNK × vocab. */
const CHUNK_ROWS = 256;

/**
 * Σ_i w_i · (logsumexp(x_i) − x_i[t_i]) over the rows of `logits` [rows, vocab], with its gradient
 * w_i · (softmax(x_i) − onehot(t_i)) written directly, chunk by chunk. Autodiff of the composed ops kept several
 * [rows, vocab] tensors alive at once (exp, the one-hot, the gather's scatter): at vocab 32000 and 2048 positions
 * each is 262 MB, which overflowed the 4 GiB wasm heap. Rows with weight 0 (ignored labels) cost nothing extra.
 */
export function weightedCrossEntropySum(
  tf: Tf,
  logits: Tensor2D,
  targets: readonly number[],
  weights: readonly number[],
): Scalar {
  if (backendHasKernels(tf, FUSED, FUSED_GRAD)) {
    return fusedCrossEntropySum(tf, logits, targets, weights);
  }
  const [rows, vocab] = logits.shape;
  const fn = tf.customGrad((...inputs) => {
    const x = inputs[0] as Tensor2D;
    (inputs[1] as (tensors: Tensor[]) => void)([x]);
    const value = tf.tidy(() => {
      const lse = tf.logSumExp(x, -1);
      const flat = tf.reshape(x, [rows * vocab]);
      const picked = tf.gather(
        flat,
        tf.tensor1d(
          targets.map((t, r) => r * vocab + t),
          'int32',
        ),
      );
      return tf.sum(tf.mul(tf.sub(lse, picked), tf.tensor1d(weights as number[])));
    });
    const gradFunc = (dy: Tensor, saved: Tensor[]): Tensor => {
      const input = saved[0] as Tensor2D;
      const parts: Tensor[] = [];
      try {
        for (let start = 0; start < rows; start += CHUNK_ROWS) {
          const size = Math.min(CHUNK_ROWS, rows - start);
          parts.push(
            tf.tidy(() => {
              const chunk = tf.slice(input, [start, 0], [size, vocab]);
              const onehot = tf.oneHot(tf.tensor1d(targets.slice(start, start + size) as number[], 'int32'), vocab);
              const w = tf.mul(tf.reshape(tf.tensor1d(weights.slice(start, start + size) as number[]), [size, 1]), dy);
              return tf.mul(tf.sub(tf.softmax(chunk), onehot), w);
            }),
          );
        }
        return parts.length === 1 ? (parts[0] as Tensor) : tf.concat(parts, 0);
      } finally {
        if (parts.length > 1) for (const p of parts) p.dispose();
      }
    };
    return { value, gradFunc };
  });
  return fn(logits) as Scalar;
}

/** The same sum through the backend's fused kernels; the softmax (not the logits) is saved for the backward pass. */
function fusedCrossEntropySum(
  tf: Tf,
  logits: Tensor2D,
  targets: readonly number[],
  weights: readonly number[],
): Scalar {
  const fn = tf.customGrad((...inputs) => {
    const save = inputs[1] as (tensors: Tensor[]) => void;
    const t = tf.tensor1d(targets as number[], 'int32');
    const w = tf.tensor1d(weights as number[], 'float32');
    const [sum, probs] = tf.engine().runKernel(FUSED, { logits: inputs[0] as Tensor, targets: t, weights: w }) as [
      Scalar,
      Tensor,
    ];
    // saved tensors outlive the forward's tidy; t and w are needed again by the gradient
    save([probs, t, w]);
    const gradFunc = (dy: Tensor, saved: Tensor[]): Tensor =>
      tf.engine().runKernel(FUSED_GRAD, {
        probs: saved[0] as Tensor,
        targets: saved[1] as Tensor,
        weights: saved[2] as Tensor,
        dy,
      }) as Tensor;
    return { value: sum, gradFunc };
  });
  return fn(logits) as Scalar;
}
