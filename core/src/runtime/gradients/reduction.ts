import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';
import type { Tf } from '../types.ts';
import { boolAttr, invertPerm, keptShape, mask, normAxis, numAttr, reductionAxes, savedAt, single } from './util.ts';

/** dy reshaped so it broadcasts over the reduced axes of x (works with and without keepDims). */
function expandReduced(tf: Tf, dy: Tensor, x: Tensor, axes: number[]): Tensor {
  return tf.reshape(dy, keptShape(x.shape, axes));
}

/**
 * dy spread over x's shape. tf.broadcastTo runs the Tile kernel, which on wasm costs ~20 ms for [4,256,288]: the
 * RMSNorm means made it 10 % of the LoRA step. A broadcasting multiply by ones is one fast elementwise pass.
 */
function spread(tf: Tf, dy: Tensor, shape: number[]): Tensor {
  return dy.size === tf.util.sizeFromShape(shape) ? tf.reshape(dy, shape) : tf.mul(dy, tf.ones(shape, 'float32'));
}

/** Max and Min: the gradient flows to every element equal to the extremum (ties share it, as in TF). */
function extremum(tf: Tf, kernelName: string, axisAttr: string): GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const x = savedAt(saved, 0);
      const y = savedAt(saved, 1);
      const axes = reductionAxes(attrs, axisAttr, x.rank);
      return {
        x: () => tf.mul(expandReduced(tf, single(dy), x, axes), mask(tf, tf.equal(x, expandReduced(tf, y, x, axes)))),
      };
    },
  };
}

/**
 * Prod: d/dx_i = product of the other elements, computed as exclusive cumprods from both sides so
 * zeros in x are handled exactly (no y / x division).
 */
function prodGradient(tf: Tf): GradConfig {
  return {
    kernelName: 'Prod',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs: NamedAttrMap) => {
      const x = savedAt(saved, 0);
      const axes = reductionAxes(attrs, 'axis', x.rank);
      return {
        x: () => {
          const kept = x.shape.map((_d, i) => i).filter((i) => !axes.includes(i));
          const perm = [...kept, ...axes];
          const xt = tf.transpose(x, perm);
          const outer = kept.reduce((n, i) => n * (x.shape[i] ?? 1), 1);
          const flat = tf.reshape(xt, [outer, -1]);
          const others = tf.mul(tf.cumprod(flat, 1, true, false), tf.cumprod(flat, 1, true, true));
          const g = tf.mul(others, tf.reshape(single(dy), [outer, 1]));
          return tf.transpose(tf.reshape(g, xt.shape), invertPerm(perm));
        },
      };
    },
  };
}

/** Reductions and scans. */
export function reductionGradients(tf: Tf): GradConfig[] {
  return [
    {
      kernelName: 'Sum',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = savedAt(saved, 0);
        const axes = reductionAxes(attrs, 'axis', x.rank);
        return { x: () => spread(tf, expandReduced(tf, tf.cast(single(dy), 'float32'), x, axes), x.shape) };
      },
    },
    {
      kernelName: 'Mean',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = savedAt(saved, 0);
        const axes = reductionAxes(attrs, 'axis', x.rank);
        const count = axes.reduce((n, a) => n * (x.shape[a] ?? 1), 1);
        return { x: () => spread(tf, tf.div(expandReduced(tf, single(dy), x, axes), count), x.shape) };
      },
    },
    extremum(tf, 'Max', 'reductionIndices'),
    extremum(tf, 'Min', 'axis'),
    prodGradient(tf),
    {
      // The adjoint of a prefix sum is the suffix sum in the other direction.
      kernelName: 'Cumsum',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = savedAt(saved, 0);
        const axis = normAxis(numAttr(attrs, 'axis', 0), x.rank);
        return { x: () => tf.cumsum(single(dy), axis, boolAttr(attrs, 'exclusive'), !boolAttr(attrs, 'reverse')) };
      },
    },
  ];
}
