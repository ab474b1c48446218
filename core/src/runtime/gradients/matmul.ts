import type { GradConfig, Tensor } from '@tensorflow/tfjs-core';
import type { Tf } from '../types.ts';
import { boolAttr, reduceToShape, savedAt, single } from './util.ts';

/**
 * Gradients of y = op(a) @ op(b) for the four transpose combinations. The results carry the
 * broadcast batch dims of y; the caller reduces them back to each input's own batch shape.
 */
function matMulGrads(
  tf: Tf,
  dy: Tensor,
  a: Tensor,
  b: Tensor,
  transposeA: boolean,
  transposeB: boolean,
): { da: () => Tensor; db: () => Tensor } {
  if (!transposeA && !transposeB) {
    // y = a b
    return { da: () => tf.matMul(dy, b, false, true), db: () => tf.matMul(a, dy, true, false) };
  }
  if (!transposeA && transposeB) {
    // y = a bᵀ
    return { da: () => tf.matMul(dy, b, false, false), db: () => tf.matMul(dy, a, true, false) };
  }
  if (transposeA && !transposeB) {
    // y = aᵀ b
    return { da: () => tf.matMul(b, dy, false, true), db: () => tf.matMul(a, dy, false, false) };
  }
  // y = aᵀ bᵀ
  return { da: () => tf.matMul(b, dy, true, true), db: () => tf.matMul(dy, a, true, true) };
}

/**
 * BatchMatMul (what tf.matMul records): any rank >= 2, batch dims broadcast numpy-style.
 * _FusedMatMul is not covered: tf.fused.matMul wraps it in its own customGrad, so the kernel never
 * reaches the tape through tfjs ops, and its optional bias/prelu inputs cannot be saved generically.
 */
export function matMulGradients(tf: Tf): GradConfig[] {
  return [
    {
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => {
        const a = savedAt(saved, 0);
        const b = savedAt(saved, 1);
        const g = matMulGrads(tf, single(dy), a, b, boolAttr(attrs, 'transposeA'), boolAttr(attrs, 'transposeB'));
        return {
          a: () => reduceToShape(tf, g.da(), a.shape),
          b: () => reduceToShape(tf, g.db(), b.shape),
        };
      },
    },
  ];
}
