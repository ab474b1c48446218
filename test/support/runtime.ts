/** createTensorRuntime with the standard backends registered (core ships none; the composition root supplies them). */
import { defaultTensorBackends } from '@peftkit/adapters';
import { createTensorRuntime as createCoreRuntime, type TensorRuntime, type TensorRuntimeOptions } from '@peftkit/core';

export function createTensorRuntime(options: TensorRuntimeOptions = {}): Promise<TensorRuntime> {
  return createCoreRuntime({ backends: defaultTensorBackends, ...options });
}
