import type { GradConfig } from '@tensorflow/tfjs-core';
import type { Tf } from '../types.ts';
import { arithmeticGradients } from './arithmetic.ts';
import { indexingGradients } from './indexing.ts';
import { matMulGradients } from './matmul.ts';
import { nnGradients } from './nn.ts';
import { nonDifferentiableGradients } from './nondiff.ts';
import { reductionGradients } from './reduction.ts';
import { shapeGradients } from './shape.ts';
import { unaryGradients } from './unary.ts';

// tfjs-core alone registers no gradients, and its register_all_gradients module cannot be imported
// under Node/Deno ESM; these configs are written against the public ops of the `tf` passed in so
// that one shared tfjs-core instance holds both the kernels and their gradients.

function allGradients(tf: Tf): GradConfig[] {
  return [
    ...arithmeticGradients(tf),
    ...unaryGradients(tf),
    ...nnGradients(tf),
    ...reductionGradients(tf),
    ...shapeGradients(tf),
    ...indexingGradients(tf),
    ...matMulGradients(tf),
    ...nonDifferentiableGradients(tf),
  ];
}

/**
 * Registers peftkit's gradient functions on `tf`. Idempotent: kernels that already have a gradient
 * (ours from an earlier call, or one registered by another tfjs package) are left untouched.
 */
export function registerAllGradients(tf: Tf): void {
  for (const config of allGradients(tf)) {
    if (tf.getGradient(config.kernelName) == null) tf.registerGradient(config);
  }
}
