import type { GradConfig, Tensor, Tensor1D } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import { backendHasKernels } from '../backend-kernels.ts';
import type { Tf } from '../types.ts';
import { normAxis, numAttr, savedAt, single, zerosFor } from './util.ts';

/**
 * Sums rows of `updates` ([n, ...rest]) into `numSegments` buckets by `ids` ([n], int32), duplicates
 * accumulating. UnsortedSegmentSum is the natural kernel but the wasm backend lacks it; ScatterNd also
 * sums duplicates and exists on every backend peftkit ships.
 */
function segmentSum(tf: Tf, updates: Tensor, ids: Tensor1D, numSegments: number): Tensor {
  if (backendHasKernels(tf, 'UnsortedSegmentSum')) {
    return tf.unsortedSegmentSum(updates, ids, numSegments);
  }
  const [, ...rest] = updates.shape;
  return tf.scatterND(tf.reshape(ids, [-1, 1]), updates, [numSegments, ...rest]);
}

function isIdentity(perm: readonly number[]): boolean {
  return perm.every((p, i) => p === i);
}

/**
 * gather(x, indices, axis) with batchDims = 0. The gradient scatters dy back: move the indices dims
 * of dy to the front, flatten them, segment-sum into x's axis, and move that axis back into place.
 * Gather with batchDims != 0 is deliberately not differentiable: keep it out of trainable paths.
 */
function gatherGradient(tf: Tf): GradConfig {
  return {
    kernelName: 'GatherV2',
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, saved, attrs) => {
      const x = savedAt(saved, 0);
      const indices = savedAt(saved, 1);
      const batchDims = numAttr(attrs, 'batchDims', 0);
      if (batchDims !== 0) {
        throw new PeftkitError(
          'PEFTKIT_E_GRAD_UNSUPPORTED',
          `gather with batchDims=${batchDims} is not differentiable in peftkit; use batchDims=0`,
          {
            kernel: 'GatherV2',
            batchDims,
          },
        );
      }
      const axis = normAxis(numAttr(attrs, 'axis', 0), x.rank);
      return {
        x: () => {
          const g = single(dy);
          const outerRank = axis;
          const idxRank = indices.rank;
          const toFront = [
            ...Array.from({ length: idxRank }, (_, i) => outerRank + i),
            ...Array.from({ length: outerRank }, (_, i) => i),
            ...Array.from({ length: g.rank - outerRank - idxRank }, (_, i) => outerRank + idxRank + i),
          ];
          const moved = isIdentity(toFront) ? g : tf.transpose(g, toFront);
          const rows = tf.reshape(moved, [indices.size, ...moved.shape.slice(idxRank)]);
          const ids = tf.reshape(tf.cast(indices, 'int32'), [indices.size]) as Tensor1D;
          const summed = segmentSum(tf, rows, ids, x.shape[axis] ?? 0);
          // summed is [N, ...outer, ...inner]; x is [...outer, N, ...inner].
          const back = [
            ...Array.from({ length: outerRank }, (_, i) => i + 1),
            0,
            ...Array.from({ length: x.rank - outerRank - 1 }, (_, i) => outerRank + 1 + i),
          ];
          return isIdentity(back) ? summed : tf.transpose(summed, back);
        },
        indices: () => zerosFor(tf, indices),
      };
    },
  };
}

/** Indexing and selection kernels. */
export function indexingGradients(tf: Tf): GradConfig[] {
  return [
    gatherGradient(tf),
    {
      // out[s] = sum of x rows with id s, so x's gradient gathers dy back (rows with a negative id are dropped).
      kernelName: 'UnsortedSegmentSum',
      inputsToSave: ['segmentIds'],
      gradFunc: (dy, saved) => {
        const ids = savedAt(saved, 0);
        const g = single(dy);
        return {
          x: () => {
            const gathered = tf.gather(g, tf.maximum(ids, tf.scalar(0, 'int32')));
            const valid = tf.cast(tf.greaterEqual(ids, tf.scalar(0, 'int32')), 'float32');
            const validShape = [...ids.shape, ...new Array<number>(gathered.rank - ids.rank).fill(1)];
            return tf.mul(gathered, tf.reshape(valid, validShape));
          },
          segmentIds: () => zerosFor(tf, ids),
        };
      },
    },
    {
      // tf.where broadcasts condition, t and e to one shape before calling Select.
      kernelName: 'Select',
      inputsToSave: ['condition'],
      gradFunc: (dy, saved) => {
        const cond = savedAt(saved, 0);
        const g = single(dy);
        return {
          condition: () => zerosFor(tf, cond),
          t: () => tf.where(cond, g, tf.zerosLike(g)),
          e: () => tf.where(cond, tf.zerosLike(g), g),
        };
      },
    },
  ];
}
