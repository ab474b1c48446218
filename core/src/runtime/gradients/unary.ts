import type { GradConfig, Tensor } from '@tensorflow/tfjs-core';
import type { Tf } from '../types.ts';
import { mask, numAttr, savedAt, single, zerosFor } from './util.ts';

/** dx = dy * f'(x), with x saved. */
function fromInput(kernelName: string, dx: (dy: Tensor, x: Tensor) => Tensor): GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const x = savedAt(saved, 0);
      return { x: () => dx(single(dy), x) };
    },
  };
}

/** dx = dy * f'(x) expressed through the output y (cheaper when f' is a function of f). */
function fromOutput(kernelName: string, dx: (dy: Tensor, y: Tensor) => Tensor): GradConfig {
  return {
    kernelName,
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const y = savedAt(saved, 0);
      return { x: () => dx(single(dy), y) };
    },
  };
}

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** Element-wise math kernels with one input named `x`. */
export function unaryGradients(tf: Tf): GradConfig[] {
  return [
    { kernelName: 'Neg', gradFunc: (dy) => ({ x: () => tf.neg(single(dy)) }) },
    { kernelName: 'Identity', gradFunc: (dy) => ({ x: () => tf.clone(single(dy)) }) },
    // A cast from an integer or bool input is a constant as far as gradients go.
    fromInput('Cast', (dy, x) => (x.dtype === 'float32' ? tf.cast(dy, 'float32') : zerosFor(tf, x))),
    fromInput('Square', (dy, x) => tf.mul(dy, tf.mul(x, 2))),
    fromOutput('Sqrt', (dy, y) => tf.div(dy, tf.mul(y, 2))),
    // y = x^-1/2  =>  dy/dx = -y^3 / 2
    fromOutput('Rsqrt', (dy, y) => tf.mul(dy, tf.mul(tf.pow(y, 3), -0.5))),
    fromOutput('Exp', (dy, y) => tf.mul(dy, y)),
    fromOutput('Expm1', (dy, y) => tf.mul(dy, tf.add(y, 1))),
    fromInput('Log', (dy, x) => tf.div(dy, x)),
    fromInput('Log1p', (dy, x) => tf.div(dy, tf.add(x, 1))),
    fromInput('Abs', (dy, x) => tf.mul(dy, tf.sign(x))),
    fromOutput('Reciprocal', (dy, y) => tf.neg(tf.mul(dy, tf.square(y)))),
    fromInput('Sin', (dy, x) => tf.mul(dy, tf.cos(x))),
    fromInput('Cos', (dy, x) => tf.neg(tf.mul(dy, tf.sin(x)))),
    fromInput('Tan', (dy, x) => tf.div(dy, tf.square(tf.cos(x)))),
    fromInput('Sinh', (dy, x) => tf.mul(dy, tf.cosh(x))),
    fromInput('Cosh', (dy, x) => tf.mul(dy, tf.sinh(x))),
    fromInput('Asin', (dy, x) => tf.div(dy, tf.sqrt(tf.sub(1, tf.square(x))))),
    fromInput('Acos', (dy, x) => tf.neg(tf.div(dy, tf.sqrt(tf.sub(1, tf.square(x)))))),
    fromInput('Atan', (dy, x) => tf.div(dy, tf.add(tf.square(x), 1))),
    fromInput('Asinh', (dy, x) => tf.div(dy, tf.sqrt(tf.add(tf.square(x), 1)))),
    fromInput('Acosh', (dy, x) => tf.div(dy, tf.sqrt(tf.sub(tf.square(x), 1)))),
    fromInput('Atanh', (dy, x) => tf.div(dy, tf.sub(1, tf.square(x)))),
    fromOutput('Tanh', (dy, y) => tf.mul(dy, tf.sub(1, tf.square(y)))),
    fromOutput('Sigmoid', (dy, y) => tf.mul(dy, tf.mul(y, tf.sub(1, y)))),
    fromInput('Softplus', (dy, x) => tf.mul(dy, tf.sigmoid(x))),
    fromInput('Erf', (dy, x) => tf.mul(dy, tf.mul(tf.exp(tf.neg(tf.square(x))), TWO_OVER_SQRT_PI))),
    {
      kernelName: 'ClipByValue',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = savedAt(saved, 0);
        const lo = numAttr(attrs, 'clipValueMin');
        const hi = numAttr(attrs, 'clipValueMax');
        return { x: () => tf.mul(single(dy), mask(tf, tf.logicalAnd(tf.greaterEqual(x, lo), tf.lessEqual(x, hi)))) };
      },
    },
  ];
}
