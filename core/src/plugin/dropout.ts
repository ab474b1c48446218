import type { Tensor } from '@tensorflow/tfjs-core';
import type { ForwardCall } from '../model/graph.ts';
import type { Tf } from '../runtime/types.ts';

/**
 * Inverted dropout while training, as PEFT's `nn.Dropout`: masks come from the call's seeded rng, so a run repeats
 * exactly and resumes bit-exact. Identity at inference, at p = 0, or without an rng. Call inside a tidy.
 */
export function dropout<T extends Tensor>(tf: Tf, x: T, p: number, call: Pick<ForwardCall, 'training' | 'rng'>): T {
  if (p <= 0 || !call.training || call.rng === null || call.rng === undefined) return x;
  const u = call.rng.uniformArray(x.size, 0, 1);
  const keep = 1 / (1 - p);
  const mask = new Float32Array(x.size);
  for (let i = 0; i < mask.length; i++) mask[i] = (u[i] as number) >= p ? keep : 0;
  return tf.mul(x, tf.tensor(mask, x.shape)) as T;
}

/** A value gradients must not flow through (PEFT's `.detach()`), e.g. DoRA's weight norm. Call inside a tidy. */
export function stopGradient<T extends Tensor>(tf: Tf, x: T): T {
  const detach = tf.customGrad((...inputs) => {
    const t = inputs[0] as Tensor;
    return { value: tf.clone(t), gradFunc: () => tf.zerosLike(t) };
  });
  return detach(x) as T;
}
