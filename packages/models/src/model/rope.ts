import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';

/**
 * Rotary position embedding in Hugging Face's "rotate half" convention: the first and second halves of each head
 * form the (real, imaginary) pairs. Angles are computed in float64 in JS from per-row position ids, so left-padded
 * batches and cached decoding get exact positions.
 */
export function ropeTables(tf: Tf, positions: readonly (readonly number[])[], headDim: number, theta: number): { cos: Tensor4D; sin: Tensor4D } {
  const batch = positions.length;
  const seq = positions[0]?.length ?? 0;
  const half = headDim / 2;
  const cos = new Float32Array(batch * seq * headDim);
  const sin = new Float32Array(batch * seq * headDim);
  const invFreq = Array.from({ length: half }, (_, i) => 1 / theta ** ((2 * i) / headDim));
  for (let b = 0; b < batch; b++) {
    const row = positions[b] as readonly number[];
    for (let s = 0; s < seq; s++) {
      const base = (b * seq + s) * headDim;
      const p = row[s] as number;
      for (let i = 0; i < half; i++) {
        const angle = p * (invFreq[i] as number);
        const c = Math.cos(angle);
        const sn = Math.sin(angle);
        cos[base + i] = c;
        cos[base + half + i] = c;
        sin[base + i] = sn;
        sin[base + half + i] = sn;
      }
    }
  }
  return { cos: tf.tensor4d(cos, [batch, seq, 1, headDim]), sin: tf.tensor4d(sin, [batch, seq, 1, headDim]) };
}

/** x [batch, seq, heads, headDim] → rotated x. */
export function applyRope(tf: Tf, x: Tensor4D, cos: Tensor4D, sin: Tensor4D): Tensor4D {
  const half = (x.shape[3] as number) / 2;
  const [first, second] = tf.split(x, [half, half], 3) as [Tensor4D, Tensor4D];
  const rotated = tf.concat([tf.neg(second), first], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as Tensor4D;
}
