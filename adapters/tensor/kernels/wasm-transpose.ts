import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { jsTransposeLoops, simdTransposeLoops, type TransposeLoops } from './simd-transpose.ts';
import { heapLoops, heapOffset } from './wasm-ops.ts';

const loopsByBackend = new WeakMap<BackendWasm, TransposeLoops>();

/**
 * Transpose on wasm: float32 [a, b, c, d] with perm [0, 2, 1, 3] (attention's head / position swap, forward and
 * backward) runs as one SIMD pass of whole-run copies (simd-transpose.ts); every other transpose keeps the original.
 */
export function makeWasmTranspose(original: KernelConfig): KernelFunc {
  return (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    const perm = (args.attrs as { perm?: number[] } | undefined)?.perm ?? [];
    const swap = x.dtype === 'float32' && x.shape.length === 4 && perm.join() === '0,2,1,3';
    if (!swap) return original.kernelFunc(args);
    const backend = args.backend as BackendWasm;
    const [a, b, c, d] = x.shape as [number, number, number, number];
    const out = backend.makeOutput([a, c, b, d], 'float32');
    if (a * b * c * d === 0) return out;
    const loops = heapLoops(backend, loopsByBackend, simdTransposeLoops, jsTransposeLoops);
    loops.swap12(heapOffset(backend, out), heapOffset(backend, x), a, b, c, d);
    return out;
  };
}
