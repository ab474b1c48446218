import type { Tf } from './types.ts';

/**
 * Whether the current backend registers every named kernel. Fused kernels (RoPE, masked softmax, SwiGLU,
 * cross-entropy) are added by platform adapters to some backends only; callers run the composed ops otherwise.
 */
export function backendHasKernels(tf: Tf, ...names: readonly string[]): boolean {
  const backend = tf.getBackend();
  return names.every((name) => tf.getKernel(name, backend) !== undefined);
}
