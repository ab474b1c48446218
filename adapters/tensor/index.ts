import { cpuBackend } from './cpu.ts';
import { tensorflowBackend } from './tensorflow.ts';
import type { TensorBackendAdapter } from '@peftkit/core';
import { wasmBackend } from './wasm.ts';

/** Built-in tensor backends. Without a request, the available one with the highest priority wins. */
export const defaultTensorBackends: readonly TensorBackendAdapter[] = [tensorflowBackend, wasmBackend, cpuBackend];

export { cpuBackend, tensorflowBackend, wasmBackend };
export { installCpuKernels, installWasmKernels } from './kernels/install.ts';
export { type BlasKernelSettings, setBlasKernelSettings, withoutBlas } from './kernels/blas-matmul.ts';
export { SMALL_PRODUCT_MACS, setSmallProductMacs } from './kernels/small-products.ts';
export { isPeftkitKernel, originalKernel, withOriginalKernels } from './kernels/registry.ts';
