import type { Rng } from '@peftkit/core';
import type { LoraConfig } from './config.ts';

/**
 * Initial values of A and B, as PEFT's `reset_lora_parameters` (and torch's defaults when init is off).
 * Row-major Float32Arrays; A is [r, in] (linear) or [r, num_embeddings]; B is [out, r] or [dim, r].
 */

/** torch's kaiming_uniform_(a=√5): bound = gain·√(3/fan_in) with gain = √(2/(1+a²)) = √(1/3), i.e. 1/√fan_in. */
export function kaimingUniformBound(fanIn: number): number {
  const a = Math.sqrt(5);
  const gain = Math.sqrt(2 / (1 + a * a));
  return gain * Math.sqrt(3 / fanIn);
}

export function initLinear(
  rng: Rng,
  init: LoraConfig['init_lora_weights'],
  r: number,
  inFeatures: number,
  outFeatures: number,
): { a: Float32Array; b: Float32Array } {
  if (init === 'gaussian') {
    // PEFT: normal_(A, std=1/r), B = 0.
    return { a: rng.normalArray(r * inFeatures, 0, 1 / r), b: new Float32Array(outFeatures * r) };
  }
  const boundA = kaimingUniformBound(inFeatures);
  const a = rng.uniformArray(r * inFeatures, -boundA, boundA);
  if (init === true) return { a, b: new Float32Array(outFeatures * r) };
  // init_lora_weights=false keeps nn.Linear's default init for B too (fan_in = r): the adapter is not an identity.
  const boundB = kaimingUniformBound(r);
  return { a, b: rng.uniformArray(outFeatures * r, -boundB, boundB) };
}

export function initEmbedding(
  rng: Rng,
  init: LoraConfig['init_lora_weights'],
  r: number,
  numEmbeddings: number,
  dim: number,
): { a: Float32Array; b: Float32Array } {
  // PEFT creates both with randn and, unless init is off, zeroes A (B keeps N(0, 1)) so the start is an identity.
  if (init === false) return { a: rng.normalArray(r * numEmbeddings), b: rng.normalArray(dim * r) };
  return { a: new Float32Array(r * numEmbeddings), b: rng.normalArray(dim * r) };
}
