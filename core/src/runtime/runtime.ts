import * as tfcore from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import { registerAllGradients } from './gradients/index.ts';
import type { BackendOptions, TensorBackendAdapter, Tf } from './types.ts';

export interface TensorRuntime {
  readonly tf: Tf;
  /** The backend actually in use. */
  readonly backend: string;
  readonly adapter: TensorBackendAdapter;
}

export interface TensorRuntimeOptions extends BackendOptions {
  /** Backend name; falls back to PEFTKIT_BACKEND, then the available adapter with the highest priority. */
  backend?: string;
  /**
   * Backend adapters to choose from. Core ships none: the composition root passes them (`peftkit`'s createKernel
   * registers @peftkit/adapters' wasm, cpu and tensorflow).
   */
  backends?: readonly TensorBackendAdapter[];
}

function envBackend(): string | undefined {
  const value = globalThis.process?.env?.PEFTKIT_BACKEND;
  return value === undefined || value === '' ? undefined : value;
}

async function pickAdapter(adapters: readonly TensorBackendAdapter[], requested: string | undefined) {
  if (requested !== undefined) {
    const adapter = adapters.find((a) => a.name === requested);
    if (adapter === undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_BACKEND_UNKNOWN',
        `unknown tensor backend '${requested}'; known: ${adapters.map((a) => a.name).join(', ')}`,
        {
          backend: requested,
        },
      );
    }
    if (!(await adapter.isAvailable())) {
      throw new PeftkitError(
        'PEFTKIT_E_BACKEND_UNAVAILABLE',
        `tensor backend '${requested}' cannot be loaded on this runtime (is its package installed?)`,
        {
          backend: requested,
        },
      );
    }
    return adapter;
  }
  const sorted = [...adapters].sort((a, b) => b.priority - a.priority);
  for (const adapter of sorted) if (await adapter.isAvailable()) return adapter;
  throw new PeftkitError('PEFTKIT_E_BACKEND_UNAVAILABLE', 'no tensor backend is available', {});
}

function tfjsCurrentBackend(tf: Tf): string | undefined {
  try {
    return tf.getBackend();
  } catch {
    return undefined;
  }
}

/**
 * Selects, registers and activates a tensor backend on the shared tfjs-core instance and makes sure
 * every gradient peftkit relies on is registered. tfjs has one global engine, so the active backend is
 * process-wide: creating a runtime for another backend switches every kernel in the process.
 */
export async function createTensorRuntime(options: TensorRuntimeOptions = {}): Promise<TensorRuntime> {
  const tf: Tf = tfcore;
  registerAllGradients(tf);
  const adapters = options.backends ?? [];
  if (adapters.length === 0) {
    throw new PeftkitError(
      'PEFTKIT_E_BACKEND_NONE',
      "no tensor backend registered: pass `backends` (from '@peftkit/adapters') or use createKernel from 'peftkit'",
      {},
    );
  }
  const adapter = await pickAdapter(adapters, options.backend ?? envBackend());
  const backendOptions: BackendOptions = {};
  if (options.threads !== undefined) backendOptions.threads = options.threads;
  try {
    await adapter.register(tf, backendOptions);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    throw new PeftkitError(
      typeof code === 'string' && code.startsWith('PEFTKIT_E_') ? code : 'PEFTKIT_E_BACKEND_INIT',
      `tensor backend '${adapter.name}': ${message}`,
      {
        backend: adapter.name,
      },
      { cause: error },
    );
  }
  // tf.setBackend resolves to false (it does not throw) when the backend fails to initialise, and leaves tfjs
  // pointing at the broken backend: restore the previous one so later ops do not silently pick another.
  const previous = tfjsCurrentBackend(tf);
  const ok = await tf.setBackend(adapter.name);
  if (!ok || tf.getBackend() !== adapter.name) {
    if (previous !== undefined && previous !== adapter.name) await tf.setBackend(previous);
    throw new PeftkitError('PEFTKIT_E_BACKEND_INIT', `tensor backend '${adapter.name}' failed to initialise`, {
      backend: adapter.name,
    });
  }
  await tf.ready();
  return { tf, backend: adapter.name, adapter };
}
