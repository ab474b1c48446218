import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { RMS_NORM_KERNEL } from '@peftkit/core';
import { jsRmsNormLoops, type RmsNormLoops, simdRmsNormLoops } from './simd-rmsnorm.ts';
import { heapLoops, heapOffset } from './wasm-ops.ts';

/**
 * RMSNorm as one wasm kernel (core's RMS_NORM_KERNEL; core/src/model/norm.ts uses it for inference where the
 * backend has it): inputs {x [..., d], weight [d]}, attrs {eps} → (x · r) · weight, r = 1 / √(mean(x²) + eps) per row.
 * Composed it was six tfjs ops (Square, Mean, Add, Rsqrt, Mul, Mul) per norm, 13 norms per stories15M decode step:
 * ~0.5 ms of a 12 ms step at batch 8, mostly per-op cost. Training keeps the composed ops (autodiff).
 */

const loopsByBackend = new WeakMap<BackendWasm, RmsNormLoops>();

export const wasmRmsNorm: KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as BackendWasm;
  const { x, weight } = inputs as { x: TensorInfo; weight: TensorInfo };
  const d = x.shape[x.shape.length - 1] ?? 0;
  if (x.dtype !== 'float32' || weight.dtype !== 'float32' || weight.shape.length !== 1 || weight.shape[0] !== d) {
    throw new Error(
      `${RMS_NORM_KERNEL}: x float32 [..., d] and weight float32 [d], got [${x.shape}] and [${weight.shape}]`,
    );
  }
  const eps = Number(attrs?.eps);
  if (!(eps >= 0)) throw new Error(`${RMS_NORM_KERNEL}: eps must be a number ≥ 0, got ${attrs?.eps}`);
  const y = backend.makeOutput([...x.shape], 'float32');
  const rows = d === 0 ? 0 : x.shape.reduce((n, s) => n * s, 1) / d;
  if (rows > 0) {
    const loops = heapLoops(backend, loopsByBackend, simdRmsNormLoops, jsRmsNormLoops);
    loops.rows(heapOffset(backend, y), heapOffset(backend, x), heapOffset(backend, weight), rows, d, eps);
  }
  return y;
};
