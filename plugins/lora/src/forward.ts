import { dropout, type ForwardCall, stopGradient, type Tf } from '@peftkit/core';
import type { BiasCopy, EmbeddingLora, LinearLora, SavedModule, Tensor, Tensor2D, Tensor3D } from './types.ts';

/**
 * The per-row math of a LoRA hook. Every function runs inside the model's tidy scope and only ever sees the batch
 * rows selected for this adapter.
 */

const rows = (tf: Tf, x: Tensor3D): Tensor2D => tf.reshape(x, [x.shape[0] * x.shape[1], x.shape[2]]) as Tensor2D;
const back = (tf: Tf, y: Tensor, like: Tensor3D): Tensor3D =>
  tf.reshape(y, [like.shape[0], like.shape[1], -1]) as Tensor3D;

/** ‖W + s·B·A‖ over the input dimension, one value per output row. */
export function doraWeightNorm(tf: Tf, weight: Tensor2D, layer: LinearLora): Tensor {
  const combined = tf.add(weight, tf.mul(tf.matMul(layer.b as Tensor2D, layer.a as Tensor2D), layer.scaling));
  return tf.sqrt(tf.sum(tf.square(combined), 1));
}

/** y + B(A(dropout(x)))·s, or DoRA's (m/‖W+ΔW‖ − 1)·x·Wᵀ + m/‖W+ΔW‖·B(A(x))·s. */
export function linearForward(
  tf: Tf,
  layer: LinearLora,
  x: Tensor3D,
  y: Tensor3D,
  p: number,
  call: ForwardCall,
): Tensor3D {
  const input = rows(tf, dropout(tf, x, p, call));
  const lora = tf.matMul(tf.matMul(input, layer.a as Tensor2D, false, true), layer.b as Tensor2D, false, true);
  if (layer.magnitude === null) return tf.add(y, back(tf, tf.mul(lora, layer.scaling), y)) as Tensor3D;
  const weight = layer.site.base.weightOutIn();
  const norm = stopGradient(tf, doraWeightNorm(tf, weight, layer));
  const scale = tf.reshape(tf.div(layer.magnitude, norm), [1, -1]);
  // The base term is recomputed without bias from the (dropped-out) input, as PEFT does under dropout.
  const base = tf.matMul(input, weight, false, true);
  const delta = tf.add(tf.mul(tf.sub(scale, 1), base), tf.mul(scale, tf.mul(lora, layer.scaling)));
  return tf.add(y, back(tf, delta, y)) as Tensor3D;
}

/** y + gather(Aᵀ, ids)·Bᵀ·s (PEFT applies no dropout to embedding LoRA). */
export function embeddingForward(tf: Tf, layer: EmbeddingLora, ids: Tensor, y: Tensor3D): Tensor3D {
  const flat = tf.reshape(ids, [-1]);
  const after = tf.gather(tf.transpose(layer.a), flat) as Tensor2D;
  const delta = tf.mul(tf.matMul(after, layer.b as Tensor2D, false, true), layer.scaling);
  return tf.add(y, back(tf, delta, y)) as Tensor3D;
}

/** The trained bias replaces the base one: add (b' − b). */
export function biasForward(tf: Tf, copy: BiasCopy, y: Tensor3D): Tensor3D {
  const base = copy.site.base.bias;
  return tf.add(y, base === null ? copy.bias : tf.sub(copy.bias, base)) as Tensor3D;
}

/** modules_to_save: the adapter's own copy of the layer computes the output. */
export function moduleForward(tf: Tf, module: SavedModule, x: Tensor3D): Tensor3D {
  const out = tf.matMul(rows(tf, x), module.weight as Tensor2D, false, true);
  return back(tf, module.bias === null ? out : tf.add(out, module.bias), x);
}
