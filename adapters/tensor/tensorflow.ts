import { PeftkitError } from '@peftkit/core';
import type { TensorBackendAdapter, Tf } from '@peftkit/core';

/**
 * Native TensorFlow through @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node. Both are optional:
 * their installers download libtensorflow, which fails offline, so this adapter must report itself
 * unavailable cleanly. The specifiers are held in variables so bundlers and type checkers do not
 * require the packages to exist.
 */
const CANDIDATES: readonly string[] = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/** Imports the first candidate that loads; the package registers the 'tensorflow' backend on import. */
async function importNative(): Promise<string | undefined> {
  for (const specifier of CANDIDATES) {
    try {
      await import(specifier);
      return specifier;
    } catch {
      // Not installed, or its native addon failed to load: try the next one.
    }
  }
  return undefined;
}

let loaded: Promise<string | undefined> | undefined;

function loadOnce(): Promise<string | undefined> {
  loaded ??= importNative();
  return loaded;
}

export const tensorflowBackend: TensorBackendAdapter = {
  name: 'tensorflow',
  // Above wasm: when the native package is installed it is the fastest choice by far.
  priority: 300,
  limits:
    'Native libtensorflow (CPU, or CUDA with tfjs-node-gpu): bounded by system RAM or GPU memory, ' +
    'no 4 GiB wasm ceiling. ' +
    'Full fine-tuning with Adam needs ~16 B/param plus activations (e.g. 1B params ≈ 16 GB).',
  async isAvailable() {
    return (await loadOnce()) !== undefined;
  },
  async register(tf: Tf) {
    const specifier = await loadOnce();
    if (specifier === undefined) {
      throw new PeftkitError('PEFTKIT_E_BACKEND_INIT', `none of ${CANDIDATES.join(', ')} can be imported`, {
        backend: 'tensorflow',
      });
    }
    if (tf.findBackendFactory('tensorflow') == null) {
      throw new PeftkitError(
        'PEFTKIT_E_BACKEND_INIT',
        `${specifier} did not register the 'tensorflow' backend with this tfjs-core instance`,
        {
          backend: 'tensorflow',
          package: specifier,
        },
      );
    }
  },
};
