import type { GradConfig } from '@tensorflow/tfjs-core';
import type { Tf } from '../types.ts';
import { zeroGrad } from './util.ts';

// Piecewise-constant or non-numeric kernels. They still need a gradient entry: a comparison feeding a
// Select, or tf.dropout's floor(keep + uniform) mask, sits on the tape between a variable and the loss.
const UNARY = [
  'Step',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'ZerosLike',
  'OnesLike',
  'IsNan',
  'IsInf',
  'IsFinite',
  'LogicalNot',
  'ArgMax',
  'ArgMin',
];
const BINARY = [
  'Less',
  'LessEqual',
  'Greater',
  'GreaterEqual',
  'Equal',
  'NotEqual',
  'LogicalAnd',
  'LogicalOr',
  'LogicalXor',
  'FloorDiv',
];

/**
 * Deliberately NOT differentiable (no gradient registered, so tf.grad fails loudly): Einsum,
 * StridedSlice and GatherV2 with batchDims != 0. Keep them out of trainable paths; use
 * matMul/transpose, slice, and gather with batchDims = 0 instead.
 */
export function nonDifferentiableGradients(tf: Tf): GradConfig[] {
  return [
    ...UNARY.map((name) => zeroGrad(tf, name, ['x'])),
    ...BINARY.map((name) => zeroGrad(tf, name, ['a', 'b'])),
    zeroGrad(tf, 'OneHot', ['indices']),
  ];
}
