import type { Tensor } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';

/** Finite "minus infinity": a fully masked row (left padding) then softmaxes to uniform instead of NaN. */
export const MASKED = -1e9;

/**
 * Additive attention mask [batch, 1, 1, queries, keys] (the extra axis broadcasts over grouped query heads).
 * Keys are laid out as [earlier keys (prefix and/or cache) | new keys | unused columns up to `keys`]; a query may
 * see every earlier key whose mask is 1 and the new keys up to itself whose mask is 1, never an unused column (a KV
 * cache buffer's free space). With `causal` false (encoders) every unmasked key is visible.
 */
export function attentionMask(
  tf: Tf,
  earlierMask: readonly (readonly number[])[],
  newMask: readonly (readonly number[])[],
  causal: boolean,
  keys = (earlierMask[0]?.length ?? 0) + (newMask[0]?.length ?? 0),
): Tensor {
  const batch = newMask.length;
  const queries = newMask[0]?.length ?? 0;
  const earlier = earlierMask[0]?.length ?? 0;
  const data = new Float32Array(batch * queries * keys).fill(MASKED);
  for (let b = 0; b < batch; b++) {
    const em = earlierMask[b] ?? [];
    const nm = newMask[b] as readonly number[];
    for (let q = 0; q < queries; q++) {
      const base = (b * queries + q) * keys;
      for (let k = 0; k < earlier; k++) data[base + k] = em[k] === 1 ? 0 : MASKED;
      for (let k = 0; k < queries; k++) data[base + earlier + k] = nm[k] === 1 && (!causal || k <= q) ? 0 : MASKED;
    }
  }
  return tf.tensor(data, [batch, 1, 1, queries, keys]);
}

/** Position ids from a 0/1 mask: count of real tokens before each one, continuing from `start` per row. */
export function positionsFromMask(
  mask: readonly (readonly number[])[],
  start: readonly number[],
): { positions: number[][]; next: number[] } {
  const next: number[] = [];
  const positions = mask.map((row, b) => {
    let p = start[b] ?? 0;
    const out = row.map((m) => {
      const pos = p;
      if (m === 1) p++;
      return m === 1 ? pos : Math.max(0, pos - 1);
    });
    next.push(p);
    return out;
  });
  return { positions, next };
}
