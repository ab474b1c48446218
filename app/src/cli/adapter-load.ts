import { type AdapterManager, type AdapterRecord, disposeSaved, type Kernel, readAdapterDir } from '@peftkit/core';
import { isPeftkitError, PeftkitError } from '@peftkit/io';

/**
 * Reads a saved adapter directory and loads it onto the manager's model. A plugin's refusal (wrong shapes, a key
 * the model lacks) is re-thrown with the same code, naming the directory it came from.
 */
export async function loadAdapterFromDir(
  kernel: Kernel,
  manager: AdapterManager,
  name: string,
  dir: string,
): Promise<AdapterRecord> {
  const saved = await readAdapterDir(kernel.tf, dir);
  try {
    return manager.load(name, saved);
  } catch (error) {
    if (!isPeftkitError(error) || error.message.includes(dir)) throw error;
    const message = error.message.startsWith(`${error.code}: `)
      ? error.message.slice(error.code.length + 2)
      : error.message;
    throw new PeftkitError(error.code, `adapter '${dir}': ${message}`, { ...error.details, dir }, { cause: error });
  } finally {
    disposeSaved(saved);
  }
}
