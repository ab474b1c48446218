import type { Rng } from '@peftkit/core';

/**
 * Task-vector merging as PEFT's `merge_utils` defines it, applied by `add_weighted_adapter` to the stacked LoRA A
 * matrices and, separately, to the stacked B matrices (each weighted by √(wᵢ·sᵢ)):
 * - magnitude_prune: keep the `density` share of largest-magnitude entries of each tensor, weighted sum;
 * - ties: magnitude-prune, elect a sign per entry (sum of values, or count of signs), average the weighted entries
 *   that agree with it (disjoint merge);
 * - dare_linear / dare_ties: random pruning with keep probability `density` and rescaling by 1/density, then a
 *   weighted sum / the ties election. Randomness comes from a seeded Rng (reproducible, unlike torch.bernoulli).
 * Plain Float32Array code: it runs once per merge, on adapter-sized tensors.
 */

export type TaskMergeMethod = 'magnitude_prune' | 'ties' | 'dare_linear' | 'dare_ties';
export type MajoritySignMethod = 'total' | 'frequency';

export interface TaskMergeOptions {
  readonly density: number;
  readonly majoritySignMethod: MajoritySignMethod;
  readonly rng: Rng;
}

/** Zeroes all but the int(density · n) largest |values| (ties broken by position, first kept). */
export function magnitudePrune(values: Float32Array, density: number): Float32Array {
  if (density >= 1) return values.slice();
  const k = Math.floor(density * values.length);
  const order = Array.from(values.keys()).sort(
    (i, j) => Math.abs(values[j] as number) - Math.abs(values[i] as number) || i - j,
  );
  const out = new Float32Array(values.length);
  for (let n = 0; n < k; n++) {
    const i = order[n] as number;
    out[i] = values[i] as number;
  }
  return out;
}

/** Keeps each entry with probability `density`, rescaled by 1/density (DARE). */
export function randomPrune(values: Float32Array, density: number, rng: Rng): Float32Array {
  if (density >= 1) return values.slice();
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) if (rng.next() < density) out[i] = (values[i] as number) / density;
  return out;
}

/** Σᵢ wᵢ·tᵢ over entries whose sign agrees with the elected sign, divided by how many agree (at least 1). */
function disjointMerge(
  tensors: readonly Float32Array[],
  weights: readonly number[],
  method: MajoritySignMethod,
): Float32Array {
  const n = (tensors[0] as Float32Array).length;
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let magnitude = 0;
    for (const t of tensors) magnitude += method === 'total' ? (t[j] as number) : Math.sign(t[j] as number);
    const elected = magnitude >= 0 ? 1 : -1;
    let sum = 0;
    let kept = 0;
    for (const [i, t] of tensors.entries()) {
      if (Math.sign(t[j] as number) !== elected) continue;
      sum += (t[j] as number) * (weights[i] as number);
      kept++;
    }
    out[j] = sum / Math.max(kept, 1);
  }
  return out;
}

function weightedSum(tensors: readonly Float32Array[], weights: readonly number[]): Float32Array {
  const out = new Float32Array((tensors[0] as Float32Array).length);
  for (const [i, t] of tensors.entries())
    for (let j = 0; j < out.length; j++) out[j] = (out[j] as number) + (weights[i] as number) * (t[j] as number);
  return out;
}

/** Merges same-shaped task tensors with per-task weights by `method`. */
export function mergeTaskTensors(
  tensors: readonly Float32Array[],
  weights: readonly number[],
  method: TaskMergeMethod,
  options: TaskMergeOptions,
): Float32Array {
  const random = method === 'dare_linear' || method === 'dare_ties';
  const pruned = tensors.map((t) =>
    random ? randomPrune(t, options.density, options.rng) : magnitudePrune(t, options.density),
  );
  if (method === 'magnitude_prune' || method === 'dare_linear') return weightedSum(pruned, weights);
  return disjointMerge(pruned, weights, options.majoritySignMethod);
}
