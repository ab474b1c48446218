import type * as tfcore from '@tensorflow/tfjs-core';

/**
 * Structural copies of the port in core/src/runtime/types.ts. The adapters package sits below core
 * in the dependency graph, so it restates the shapes instead of importing them; TypeScript checks
 * that both stay compatible where core consumes `defaultTensorBackends`.
 */
export type Tf = typeof tfcore;

export interface BackendOptions {
  /** Worker threads for backends that support them (wasm). 0 or undefined: automatic. */
  threads?: number;
}

export interface TensorBackendAdapter {
  readonly name: string;
  readonly priority: number;
  isAvailable(): Promise<boolean>;
  register(tf: Tf, options: BackendOptions): Promise<void>;
  readonly limits: string;
}
