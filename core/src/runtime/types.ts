import type * as tfcore from '@tensorflow/tfjs-core';

/** The one shared tfjs-core module instance. Plugins receive it through their context. */
export type Tf = typeof tfcore;

/**
 * Port implemented by tensor-backend platform adapters (`adapters/tensor/*`).
 * `register` imports the backend package (which registers itself with the shared tfjs-core engine)
 * and installs peftkit's fast or missing kernels for that backend. It must be idempotent.
 */
export interface TensorBackendAdapter {
  /** tfjs backend name: 'wasm' | 'cpu' | 'tensorflow' | third-party */
  readonly name: string;
  /** Higher wins when no backend is requested. */
  readonly priority: number;
  /** True when the backend package can be imported on this runtime (never throws). */
  isAvailable(): Promise<boolean>;
  /** Import the backend, register peftkit kernels for it. Throws PeftkitError on failure. */
  register(tf: Tf, options: BackendOptions): Promise<void>;
  /** Human-readable limits (heap ceilings etc.) for docs and `peftkit inspect`. */
  readonly limits: string;
}

export interface BackendOptions {
  /** Worker threads for backends that support them (wasm). 0 or undefined: automatic. */
  threads?: number;
}
