import type { Tensor } from '@tensorflow/tfjs-core';
import { backendHasKernels, type Tf } from '@peftkit/core';
import { silu } from './norms.ts';

/** A backend's one-pass kernels (adapters/tensor/kernels/wasm-swiglu.ts): forward, then its gradient. */
const FUSED = 'PeftkitSwiGlu';
const FUSED_GRAD = 'PeftkitSwiGluGrad';

/**
 * Llama's gated MLP activation silu(gate) · up. Where the backend has the fused kernels they run one pass per
 * direction, with gradients for both gate and up; otherwise the composed ops.
 */
export function swiGlu(tf: Tf, gate: Tensor, up: Tensor): Tensor {
  const fusable =
    backendHasKernels(tf, FUSED, FUSED_GRAD) &&
    gate.dtype === 'float32' &&
    up.dtype === 'float32' &&
    gate.shape.length === up.shape.length &&
    gate.shape.every((d, i) => d === up.shape[i]);
  return fusable ? fusedSwiGlu(tf, gate, up) : composedSwiGlu(tf, gate, up);
}

/** The composition autodiff differentiates; exported so tests can compare the kernels with it. */
export function composedSwiGlu(tf: Tf, gate: Tensor, up: Tensor): Tensor {
  return tf.mul(silu(tf, gate), up);
}

/** Only gate and up are saved: the gradient kernel recomputes σ(gate). */
function fusedSwiGlu(tf: Tf, gate: Tensor, up: Tensor): Tensor {
  const fn = tf.customGrad((...inputs) => {
    const [g, u] = inputs as [Tensor, Tensor];
    (inputs[2] as (tensors: Tensor[]) => void)([g, u]);
    const value = tf.engine().runKernel(FUSED, { gate: g, up: u }) as Tensor;
    const gradFunc = (dy: Tensor, saved: Tensor[]): Tensor[] => {
      const [sg, su] = saved as [Tensor, Tensor];
      return tf.engine().runKernel(FUSED_GRAD, { gate: sg, up: su, dy }) as Tensor[];
    };
    return { value, gradFunc };
  });
  return fn(gate, up);
}
