import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { backendHasKernels, type Tf } from '@peftkit/core';

/** A backend's one-pass kernel (adapters/tensor/kernels/wasm-rope.ts): inputs {x, cos, sin}, attr {inverse}. */
const ROPE_KERNEL = 'PeftkitRope';

/**
 * Rotary position embedding in Hugging Face's "rotate half" convention: the first and second halves of each head
 * form the (real, imaginary) pairs. Angles are computed in float64 in JS from per-row position ids, so left-padded
 * batches and cached decoding get exact positions.
 */
export function ropeTables(
  tf: Tf,
  positions: readonly (readonly number[])[],
  headDim: number,
  theta: number,
): { cos: Tensor4D; sin: Tensor4D } {
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

/** x [batch, seq, heads, headDim] → rotated x; one kernel per direction where the backend has one. */
export function applyRope(tf: Tf, x: Tensor4D, cos: Tensor4D, sin: Tensor4D): Tensor4D {
  const fused = backendHasKernels(tf, ROPE_KERNEL) && fitsKernel(x, cos, sin);
  return fused ? fusedRope(tf, x, cos, sin) : composedRope(tf, x, cos, sin);
}

/** The composition autodiff differentiates; exported so tests can compare the kernel with it. */
export function composedRope(tf: Tf, x: Tensor4D, cos: Tensor4D, sin: Tensor4D): Tensor4D {
  const half = (x.shape[3] as number) / 2;
  const [first, second] = tf.split(x, [half, half], 3) as [Tensor4D, Tensor4D];
  const rotated = tf.concat([tf.neg(second), first], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as Tensor4D;
}

/** The kernel takes one cos / sin row per (batch, position), not broadcasts; anything else keeps the composition. */
function fitsKernel(x: Tensor4D, cos: Tensor4D, sin: Tensor4D): boolean {
  const [batch, seq, , dim] = x.shape;
  const table = (t: Tensor4D) => t.dtype === 'float32' && t.shape.join() === [batch, seq, 1, dim].join();
  return x.dtype === 'float32' && dim % 2 === 0 && table(cos) && table(sin);
}

/** The rotation's gradient is the inverse rotation of dy; cos and sin are constants and get none. */
function fusedRope(tf: Tf, x: Tensor4D, cos: Tensor4D, sin: Tensor4D): Tensor4D {
  const rotate = (input: Tensor, c: Tensor, s: Tensor, inverse: boolean) =>
    tf.engine().runKernel(ROPE_KERNEL, { x: input, cos: c, sin: s }, { inverse }) as Tensor;
  const fn = tf.customGrad((...inputs) => {
    // saved (kept) copies: the caller may dispose cos / sin before the backward pass runs
    (inputs[1] as (tensors: Tensor[]) => void)([cos, sin]);
    const value = rotate(inputs[0] as Tensor, cos, sin, false);
    const gradFunc = (dy: Tensor, saved: Tensor[]): Tensor => rotate(dy, saved[0] as Tensor, saved[1] as Tensor, true);
    return { value, gradFunc };
  });
  return fn(x) as Tensor4D;
}
