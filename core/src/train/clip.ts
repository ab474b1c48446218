import type { Tensor } from '@tensorflow/tfjs-core';
import type { Tf } from '../runtime/types.ts';

/**
 * torch.nn.utils.clip_grad_norm_ semantics: total = ‖all gradients‖₂; when maxNorm > 0 every gradient is scaled by
 * min(1, maxNorm / (total + 1e-6)). Returns the norm before clipping and the (possibly new) gradients; replaced
 * gradient tensors are disposed, so the caller owns exactly what is returned.
 */
export function clipByGlobalNorm(
  tf: Tf,
  grads: Record<string, Tensor>,
  maxNorm: number,
): { norm: number; grads: Record<string, Tensor> } {
  const list = Object.values(grads);
  if (list.length === 0) return { norm: 0, grads };
  const normTensor = tf.tidy(() => tf.sqrt(tf.addN(list.map((g) => tf.sum(tf.square(g))))));
  const norm = (normTensor.dataSync() as Float32Array)[0] as number;
  normTensor.dispose();
  const coef = maxNorm / (norm + 1e-6);
  if (maxNorm <= 0 || coef >= 1 || !Number.isFinite(norm)) return { norm, grads };
  const clipped: Record<string, Tensor> = {};
  for (const [name, g] of Object.entries(grads)) {
    clipped[name] = tf.mul(g, coef);
    g.dispose();
  }
  return { norm, grads: clipped };
}
