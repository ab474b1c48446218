import type { Tensor } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';

/** RMSNorm over the last axis: x · rsqrt(mean(x²) + eps) · weight. */
export function rmsNorm(tf: Tf, x: Tensor, weight: Tensor, eps: number): Tensor {
  const variance = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), weight);
}

/** LayerNorm over the last axis with affine weight and bias. */
export function layerNorm(tf: Tf, x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  const mean = tf.mean(x, -1, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), -1, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), weight), bias);
}

export function silu(tf: Tf, x: Tensor): Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** GELU, tanh approximation (GPT-2's gelu_new). */
export function geluTanh(tf: Tf, x: Tensor): Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

/** GELU, exact erf form (BERT's gelu). */
export function geluErf(tf: Tf, x: Tensor): Tensor {
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}
