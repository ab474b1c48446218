import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';

/** A kernel config installed by peftkit; it remembers the kernel it replaced. */
export interface PeftkitKernelConfig extends KernelConfig {
  readonly peftkit: true;
  /** The tfjs kernel this one replaced (undefined when tfjs had none, e.g. UnsortedSegmentSum on wasm). */
  readonly original: KernelConfig | undefined;
}

export function isPeftkitKernel(config: KernelConfig | undefined): config is PeftkitKernelConfig {
  return config !== undefined && (config as Partial<PeftkitKernelConfig>).peftkit === true;
}

/**
 * Replaces (or adds) a kernel in the global tfjs registry. Idempotent: a kernel peftkit already
 * installed is left alone. The original's setup/dispose hooks are kept because wasm kernels cwrap
 * their C entry points in setupFunc, which the engine runs when the backend is initialised.
 */
export function installKernel(
  tf: Tf,
  kernelName: string,
  backendName: string,
  make: (original: KernelConfig | undefined) => KernelFunc,
): void {
  const current = tf.getKernel(kernelName, backendName);
  if (isPeftkitKernel(current)) return;
  const config: PeftkitKernelConfig = {
    kernelName,
    backendName,
    kernelFunc: make(current),
    setupFunc: current?.setupFunc,
    disposeFunc: current?.disposeFunc,
    peftkit: true,
    original: current,
  };
  if (current !== undefined) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel(config);
}

/** The tfjs kernel peftkit replaced, or the registered kernel itself when peftkit did not replace it. */
export function originalKernel(tf: Tf, kernelName: string, backendName: string): KernelConfig | undefined {
  const current = tf.getKernel(kernelName, backendName);
  return isPeftkitKernel(current) ? current.original : current;
}

/**
 * Runs `fn` with tfjs's own kernels registered instead of peftkit's replacements on `backendName`
 * (kernels tfjs lacks stay installed). For benchmarks and tests that compare before/after.
 */
export function withOriginalKernels<T>(tf: Tf, backendName: string, fn: () => T): T {
  const swapped: PeftkitKernelConfig[] = [];
  for (const config of tf.getKernelsForBackend(backendName)) {
    if (!isPeftkitKernel(config) || config.original === undefined) continue;
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel(config.original);
    swapped.push(config);
  }
  try {
    return fn();
  } finally {
    for (const config of swapped) {
      tf.unregisterKernel(config.kernelName, backendName);
      tf.registerKernel(config);
    }
  }
}
