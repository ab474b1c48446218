import type { Tensor } from '@tensorflow/tfjs-core';
import type { AdapterStats, MethodHandle } from '../plugin/contract.ts';

const BYTES_PER_ELEMENT: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

/** Bytes a tensor occupies on the backend (strings, which adapters never hold, count 0). */
export function tensorBytes(t: Pick<Tensor, 'size' | 'dtype'>): number {
  return t.size * (BYTES_PER_ELEMENT[t.dtype] ?? 0);
}

/**
 * The core's stats for a plugin without a `stats` hook: trainable variables plus the frozen tensors the handle
 * declares. A tensor listed twice (e.g. a tied copy) counts once.
 */
export function defaultAdapterStats(handle: MethodHandle): AdapterStats {
  const seen = new Set<Tensor>();
  let trainableParams = 0;
  let frozenParams = 0;
  let residentBytes = 0;
  const count = (tensors: readonly Tensor[], trainable: boolean) => {
    for (const t of tensors) {
      if (seen.has(t)) continue;
      seen.add(t);
      if (trainable) trainableParams += t.size;
      else frozenParams += t.size;
      residentBytes += tensorBytes(t);
    }
  };
  count(handle.trainableVariables, true);
  count(handle.frozenTensors ?? [], false);
  return { trainableParams, frozenParams, residentBytes };
}
