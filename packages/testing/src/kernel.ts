import { defaultTensorBackends } from '@peftkit/adapters';
import { createKernel, type Kernel, type KernelOptions } from '@peftkit/core';

/** A kernel wired with the standard tensor backends (wasm, cpu, tensorflow when installed), for tests. */
export function createTestKernel(options: KernelOptions = {}): Promise<Kernel> {
  return createKernel({ backends: defaultTensorBackends, ...options });
}
