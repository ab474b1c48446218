import type { GradConfig, Tensor } from '@tensorflow/tfjs-core';
import type { Tf } from '../types.ts';
import { type GradMap, mask, reduceToShape, savedAt, single } from './util.ts';

/** A broadcasting binary kernel whose input gradients are dy-shaped terms reduced back per input. */
function binary(
  tf: Tf,
  kernelName: string,
  da: (dy: Tensor, a: Tensor, b: Tensor) => Tensor,
  db: (dy: Tensor, a: Tensor, b: Tensor) => Tensor,
): GradConfig {
  return {
    kernelName,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const g = single(dy);
      const a = savedAt(saved, 0);
      const b = savedAt(saved, 1);
      return {
        a: () => reduceToShape(tf, da(g, a, b), a.shape),
        b: () => reduceToShape(tf, db(g, a, b), b.shape),
      };
    },
  };
}

/** Element-wise arithmetic kernels, all with numpy-style broadcasting. */
export function arithmeticGradients(tf: Tf): GradConfig[] {
  return [
    binary(
      tf,
      'Add',
      (dy) => dy,
      (dy) => dy,
    ),
    binary(
      tf,
      'Sub',
      (dy) => dy,
      (dy) => tf.neg(dy),
    ),
    binary(
      tf,
      'Multiply',
      (dy, _a, b) => tf.mul(dy, b),
      (dy, a) => tf.mul(dy, a),
    ),
    binary(
      tf,
      'RealDiv',
      (dy, _a, b) => tf.div(dy, b),
      (dy, a, b) => tf.neg(tf.div(tf.mul(dy, a), tf.square(b))),
    ),
    binary(
      tf,
      'SquaredDifference',
      (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(a, b))),
      (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(b, a))),
    ),
    // Ties send the gradient to `a`, like TensorFlow.
    binary(
      tf,
      'Maximum',
      (dy, a, b) => tf.mul(dy, mask(tf, tf.greaterEqual(a, b))),
      (dy, a, b) => tf.mul(dy, mask(tf, tf.less(a, b))),
    ),
    binary(
      tf,
      'Minimum',
      (dy, a, b) => tf.mul(dy, mask(tf, tf.lessEqual(a, b))),
      (dy, a, b) => tf.mul(dy, mask(tf, tf.greater(a, b))),
    ),
    // a mod b = a - floor(a / b) * b
    binary(
      tf,
      'Mod',
      (dy) => dy,
      (dy, a, b) => tf.mul(dy, tf.neg(tf.floor(tf.div(a, b)))),
    ),
    binary(
      tf,
      'Atan2',
      (dy, a, b) => tf.div(tf.mul(dy, b), tf.add(tf.square(a), tf.square(b))),
      (dy, a, b) => tf.div(tf.mul(dy, tf.neg(a)), tf.add(tf.square(a), tf.square(b))),
    ),
    powGradient(tf),
    {
      kernelName: 'AddN',
      saveAllInputs: true,
      gradFunc: (dy, saved) => {
        const g = single(dy);
        const map: GradMap = {};
        saved.forEach((_t, i) => {
          map[i] = () => tf.clone(g);
        });
        return map;
      },
    },
  ];
}

function powGradient(tf: Tf): GradConfig {
  return {
    kernelName: 'Pow',
    inputsToSave: ['a', 'b'],
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const g = single(dy);
      const a = savedAt(saved, 0);
      const b = savedAt(saved, 1);
      const y = savedAt(saved, 2);
      return {
        a: () => reduceToShape(tf, tf.mul(g, tf.mul(b, tf.pow(a, tf.sub(b, 1)))), a.shape),
        // d(a^b)/db = a^b ln a, only defined for a > 0; TensorFlow uses 0 elsewhere.
        b: () => {
          const positive = tf.greater(a, 0);
          const logA = tf.where(positive, tf.log(tf.where(positive, a, tf.onesLike(a))), tf.zerosLike(a));
          return reduceToShape(tf, tf.mul(g, tf.mul(y, logA)), b.shape);
        },
      };
    },
  };
}
