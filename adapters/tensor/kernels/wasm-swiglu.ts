import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import { jsSwiGluLoops, simdSwiGluLoops, type SwiGluLoops } from './simd-swiglu.ts';
import { heapLoops, heapOffset, release, runWasmKernel } from './wasm-ops.ts';

/**
 * The gated MLP activation silu(gate) · up (SwiGLU, Llama's MLP) as one wasm kernel per direction (names shared with
 * packages/models/src/model/swiglu.ts, which uses them when the backend has them). Composed, it ran Sigmoid and two
 * Multiply forward and six Multiply, a Sub and an Add backward over [batch, seq, intermediate], ~6 % of a LoRA
 * step's kernel time at seq 256. Here σ(gate) comes from the wasm Sigmoid kernel (XNNPACK), then one SIMD pass
 * (simd-swiglu.ts) turns it into the result in place. The backward pass recomputes σ rather than keeping it from
 * the forward pass: one Sigmoid call buys a buffer of [batch, seq, intermediate] per layer not held until backward.
 *
 * PeftkitSwiGlu: inputs {gate, up} → silu(gate) · up. PeftkitSwiGluGrad: inputs {gate, up, dy} → [dGate, dUp].
 */
export const SWIGLU_KERNEL = 'PeftkitSwiGlu';
export const SWIGLU_GRAD_KERNEL = 'PeftkitSwiGluGrad';

const describe = (t: TensorInfo) => `${t.dtype} [${t.shape.join(', ')}]`;

/** The element count; throws unless every input is float32 and shaped like `gate`. */
function checkInputs(kernel: string, inputs: Record<string, TensorInfo>): number {
  const gate = inputs.gate as TensorInfo;
  for (const [name, t] of Object.entries(inputs)) {
    const same = t.shape.length === gate.shape.length && t.shape.every((d, i) => d === gate.shape[i]);
    if (t.dtype !== 'float32' || !same) {
      const got = Object.entries(inputs).map(([n, x]) => `${n} ${describe(x)}`);
      throw new Error(`${kernel}: ${name} must be float32 shaped like gate, got ${got.join(', ')}`);
    }
  }
  return gate.shape.reduce((n, d) => n * d, 1);
}

const loopsByBackend = new WeakMap<BackendWasm, SwiGluLoops>();

function loopsOf(backend: BackendWasm): SwiGluLoops {
  return heapLoops(backend, loopsByBackend, simdSwiGluLoops, jsSwiGluLoops);
}

/** inputs {gate, up} → silu(gate) · up, computed in the Sigmoid kernel's output buffer. */
export function makeWasmSwiGlu(tf: Tf): KernelFunc {
  return ({ inputs, backend: b }) => {
    const backend = b as BackendWasm;
    const [gate, up] = [inputs.gate as TensorInfo, inputs.up as TensorInfo];
    const n = checkInputs(SWIGLU_KERNEL, { gate, up });
    const y = runWasmKernel(tf, backend, tf.Sigmoid, { x: gate });
    if (n > 0) loopsOf(backend).forward(heapOffset(backend, y), heapOffset(backend, gate), heapOffset(backend, up), n);
    return y;
  };
}

/** inputs {gate, up, dy} → [dGate, dUp]; dGate is computed in the buffer of the recomputed σ(gate). */
export function makeWasmSwiGluGrad(tf: Tf): KernelFunc {
  return ({ inputs, backend: b }) => {
    const backend = b as BackendWasm;
    const [gate, up, dy] = [inputs.gate as TensorInfo, inputs.up as TensorInfo, inputs.dy as TensorInfo];
    const n = checkInputs(SWIGLU_GRAD_KERNEL, { gate, up, dy });
    const dUp = backend.makeOutput([...gate.shape], 'float32');
    let dGate: TensorInfo;
    try {
      dGate = runWasmKernel(tf, backend, tf.Sigmoid, { x: gate });
    } catch (error) {
      release(backend, dUp);
      throw error;
    }
    if (n > 0) {
      const offsets = [dGate, dUp, gate, up, dy].map((t) => heapOffset(backend, t));
      const [dg, du, g, u, d] = offsets as [number, number, number, number, number];
      loopsOf(backend).backward(dg, du, g, u, d, n);
    }
    return [dGate, dUp];
  };
}
