import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { copyRange } from './wasm-ops.ts';

/**
 * tfjs-backend-wasm caches the XNNPACK operator (with the packed right-hand matrix) under the B
 * tensor's id alone, not its shape. tf.reshape shares the id, so using one buffer as B with two
 * different [k, n] (e.g. W as [4, 6], then reshape(W, [6, 4])) reuses an operator built for the other
 * shape: tfjs 4.22 aborts the whole wasm instance, or reads the wrong layout. This remembers the
 * [k, n] each buffer was first handed to XNNPACK with and gives any other shape a private copy.
 */
const packedShape = new WeakMap<object, string>();

export interface GuardedOperand {
  b: TensorInfo;
  /** True when `b` is a copy the caller must release. */
  copied: boolean;
}

/** `b` is a 2-D [k, n] view of a tensor about to become the XNNPACK weights operand. */
export function cacheSafeWeights(backend: BackendWasm, b: TensorInfo): GuardedOperand {
  const key = b.shape.join('x');
  const seen = packedShape.get(b.dataId);
  if (seen === undefined) {
    packedShape.set(b.dataId, key);
    return { b, copied: false };
  }
  if (seen === key) return { b, copied: false };
  const size = b.shape.reduce((x, y) => x * y, 1);
  return { b: copyRange(backend, b, 0, size, b.shape), copied: true };
}
