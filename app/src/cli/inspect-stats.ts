import { type AdapterStats, disposeSaved, type Kernel, readAdapterDir } from '@peftkit/core';
import { loadModel } from '@peftkit/models';

/**
 * Trainable vs frozen parameters of a saved adapter: a file does not say which of its tensors are trained (VeRA-like
 * methods save frozen projections next to trained vectors), so load it through its plugin on the base model and ask.
 */
export async function adapterStatsOnModel(kernel: Kernel, adapterDir: string, modelDir: string): Promise<AdapterStats> {
  const loaded = await loadModel(kernel.tf, modelDir);
  const manager = kernel.adapters(loaded.model);
  try {
    const saved = await readAdapterDir(kernel.tf, adapterDir);
    try {
      manager.load('inspect', saved);
    } finally {
      disposeSaved(saved);
    }
    return manager.stats('inspect');
  } finally {
    manager.dispose();
    loaded.model.dispose();
  }
}
