import type { GradConfig } from '@tensorflow/tfjs-core';
import type { Tf } from '../types.ts';
import { mask, normAxis, numAttr, reduceToShape, savedAt, single } from './util.ts';

// tfjs SELU constants (same as Klambauer et al.).
const SELU_SCALE = 1.0507009873554805;
const SELU_ALPHA = 1.6732632423543772;

/** Activation and normalisation kernels. */
export function nnGradients(tf: Tf): GradConfig[] {
  return [
    {
      kernelName: 'Relu',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => {
        const x = savedAt(saved, 0);
        return { x: () => tf.mul(single(dy), mask(tf, tf.greater(x, 0))) };
      },
    },
    {
      kernelName: 'Relu6',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => {
        const x = savedAt(saved, 0);
        return { x: () => tf.mul(single(dy), mask(tf, tf.logicalAnd(tf.greater(x, 0), tf.less(x, 6)))) };
      },
    },
    {
      // elu(x) = x for x > 0, exp(x) - 1 otherwise; so elu' = y + 1 on the negative side.
      kernelName: 'Elu',
      outputsToSave: [true],
      gradFunc: (dy, saved) => {
        const y = savedAt(saved, 0);
        const g = single(dy);
        return { x: () => tf.where(tf.greater(y, 0), g, tf.mul(g, tf.add(y, 1))) };
      },
    },
    {
      kernelName: 'Selu',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => {
        const x = savedAt(saved, 0);
        const g = single(dy);
        return {
          x: () =>
            tf.where(tf.greater(x, 0), tf.mul(g, SELU_SCALE), tf.mul(g, tf.mul(tf.exp(x), SELU_SCALE * SELU_ALPHA))),
        };
      },
    },
    {
      kernelName: 'LeakyRelu',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = savedAt(saved, 0);
        const alpha = numAttr(attrs, 'alpha', 0.2);
        const g = single(dy);
        return { x: () => tf.where(tf.greater(x, 0), g, tf.mul(g, alpha)) };
      },
    },
    {
      kernelName: 'Prelu',
      inputsToSave: ['x', 'alpha'],
      gradFunc: (dy, saved) => {
        const x = savedAt(saved, 0);
        const alpha = savedAt(saved, 1);
        const g = single(dy);
        const positive = () => tf.greater(x, 0);
        return {
          x: () => tf.where(positive(), g, tf.mul(g, alpha)),
          alpha: () => reduceToShape(tf, tf.where(positive(), tf.zerosLike(g), tf.mul(g, x)), alpha.shape),
        };
      },
    },
    {
      // dx = y * (dy - sum(dy * y)) along the softmax axis.
      kernelName: 'Softmax',
      outputsToSave: [true],
      gradFunc: (dy, saved, attrs) => {
        const y = savedAt(saved, 0);
        const axis = normAxis(numAttr(attrs, 'dim', -1), y.rank);
        const g = single(dy);
        return { logits: () => tf.mul(y, tf.sub(g, tf.sum(tf.mul(g, y), axis, true))) };
      },
    },
    {
      // tf.logSoftmax is a customGrad composite and never records this kernel; covered for direct kernel calls.
      kernelName: 'LogSoftmax',
      outputsToSave: [true],
      gradFunc: (dy, saved, attrs) => {
        const y = savedAt(saved, 0);
        const axis = normAxis(numAttr(attrs, 'axis', -1), y.rank);
        const g = single(dy);
        return { logits: () => tf.sub(g, tf.mul(tf.exp(y), tf.sum(g, axis, true))) };
      },
    },
  ];
}
