import { PeftkitError } from '@peftkit/core';
import { installCpuKernels } from './kernels/install.ts';
import type { TensorBackendAdapter, Tf } from '@peftkit/core';

async function importCpu() {
  return import('@tensorflow/tfjs-backend-cpu');
}

let available: Promise<boolean> | undefined;

export const cpuBackend: TensorBackendAdapter = {
  name: 'cpu',
  priority: 100,
  limits:
    'Plain JavaScript kernels on typed arrays: memory is bounded by system RAM (each tensor is one typed array), ' +
    'but matmul runs at ~0.7 GFLOP/s (bench/matmul.ts), about 40x below wasm. Meant for tests, debugging and ' +
    'models of a few million parameters; full fine-tuning with Adam needs 16 B/param.',
  isAvailable() {
    available ??= importCpu().then(
      () => true,
      () => false,
    );
    return available;
  },
  async register(tf: Tf) {
    try {
      await importCpu();
    } catch (cause) {
      throw new PeftkitError(
        'PEFTKIT_E_BACKEND_INIT',
        'cannot import @tensorflow/tfjs-backend-cpu',
        { backend: 'cpu' },
        { cause },
      );
    }
    if (tf.findBackendFactory('cpu') == null) {
      throw new PeftkitError(
        'PEFTKIT_E_BACKEND_INIT',
        'tfjs-backend-cpu did not register with this tfjs-core instance',
        { backend: 'cpu' },
      );
    }
    installCpuKernels(tf);
  },
};
