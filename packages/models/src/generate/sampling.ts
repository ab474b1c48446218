import { PeftkitError } from '@peftkit/io';
import type { Rng } from '@peftkit/core';

export interface SamplingOptions {
  /** 0 means greedy (argmax). */
  temperature: number;
  /** Keep the k most likely tokens (0: off). */
  topK: number;
  /** Keep the smallest set whose probability reaches p (1: off). */
  topP: number;
  /** >1 discourages tokens already present (HF's CTRL-style penalty; 1: off). */
  repetitionPenalty: number;
}

export function validateSampling(o: SamplingOptions): void {
  const bad = (field: string, why: string) =>
    new PeftkitError('PEFTKIT_E_GENERATE_OPTIONS', `${field} ${why}`, { field });
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature)) throw bad('temperature', 'must be a finite number ≥ 0');
  if (!Number.isInteger(o.topK) || o.topK < 0) throw bad('top_k', 'must be an integer ≥ 0');
  if (!(o.topP > 0 && o.topP <= 1)) throw bad('top_p', 'must be in (0, 1]');
  if (!(o.repetitionPenalty > 0) || !Number.isFinite(o.repetitionPenalty))
    throw bad('repetition_penalty', 'must be a finite number > 0');
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

/** Applies the repetition penalty in place: positive logits are divided, negative ones multiplied. */
export function penalize(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) {
    const v = logits[id];
    if (v === undefined) continue;
    logits[id] = v < 0 ? v * penalty : v / penalty;
  }
}

/**
 * Picks the next token from one row of logits. Returns the id and its log-probability under the sampling distribution.
 */
export function sampleToken(
  logits: Float32Array,
  options: SamplingOptions,
  rng: Rng,
  seen: readonly number[],
): { id: number; logprob: number } {
  const work = Float32Array.from(logits);
  penalize(work, seen, options.repetitionPenalty);
  if (options.temperature === 0) {
    const id = argmax(work);
    return { id, logprob: logSoftmaxAt(work, id) };
  }
  if (options.topK === 0 && options.topP >= 1) return sampleAll(work, options.temperature, rng);
  if (options.topK === 0) return sampleNucleus(work, options.topP, options.temperature, rng);
  const order = topIds(work, options.topK);
  // Typed arrays and plain loops (same summation order as before): at a 32000-token vocabulary the per-token cost
  // of sampling was above that of a model step.
  const max = work[order[0] as number] as number;
  let count = order.length;
  const probs = new Float64Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const p = Math.exp(((work[order[i] as number] as number) - max) / options.temperature);
    probs[i] = p;
    total += p;
  }
  if (options.topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < count && cumulative < options.topP * total) cumulative += probs[keep++] as number;
    count = Math.max(1, keep);
    total = 0;
    for (let i = 0; i < count; i++) total += probs[i] as number;
  }
  let r = rng.next() * total;
  for (let i = 0; i < count; i++) {
    r -= probs[i] as number;
    if (r <= 0 || i === count - 1) return { id: order[i] as number, logprob: Math.log((probs[i] as number) / total) };
  }
  return { id: order[0] as number, logprob: 0 };
}

/**
 * The first `k` ids of `idsByLogitDescending(values)` (same order, same ties) by one pass that keeps the best k seen:
 * top-k sampling no longer sorts the vocabulary (~4.5 ms per row at 32000 tokens).
 */
export function topIds(values: Float32Array, k: number): number[] {
  const key = (v: number) => (v === 0 || Number.isNaN(v) ? 0 : v); // -0 = +0 and NaN as 0, as the sort treats them
  const ids: number[] = [];
  const keys: number[] = [];
  for (let id = 0; id < values.length; id++) {
    const v = key(values[id] as number);
    // ids come in ascending order, so an equal key ranks after the ones kept: it needs a free slot
    if (ids.length === k && !(v > (keys[k - 1] as number))) continue;
    let at = ids.length === k ? k - 1 : ids.length;
    while (at > 0 && v > (keys[at - 1] as number)) {
      keys[at] = keys[at - 1] as number;
      ids[at] = ids[at - 1] as number;
      at--;
    }
    keys[at] = v;
    ids[at] = id;
  }
  return ids;
}

/** Candidates tried for top-p before sorting everything: one pass keeps them; a sort costs ~20× that pass. */
const NUCLEUS_CANDIDATES = 64;

/**
 * Top-p alone: the smallest prefix of ids by descending probability whose mass reaches p, looked for among the best
 * 64 ids (one pass) and only then by sorting the vocabulary; the draw then walks that prefix in order. A confident
 * model's nucleus is usually that small (0.7 ms per row at 32000 tokens); a flat distribution still costs the sort.
 */
function sampleNucleus(
  work: Float32Array,
  topP: number,
  temperature: number,
  rng: Rng,
): { id: number; logprob: number } {
  let order = topIds(work, NUCLEUS_CANDIDATES);
  const max = work[order[0] as number] as number;
  const e = new Float64Array(work.length);
  let all = 0;
  for (let i = 0; i < work.length; i++) {
    e[i] = Math.exp(((work[i] as number) - max) / temperature);
    all += e[i] as number;
  }
  const prefix = (ids: readonly number[]): number => {
    let mass = 0;
    let keep = 0;
    while (keep < ids.length && mass < topP * all) mass += e[ids[keep++] as number] as number;
    return mass >= topP * all || ids.length === work.length ? Math.max(1, keep) : 0;
  };
  let keep = prefix(order);
  if (keep === 0) {
    order = idsByLogitDescending(work);
    keep = prefix(order);
  }
  let total = 0;
  for (let i = 0; i < keep; i++) total += e[order[i] as number] as number;
  let r = rng.next() * total;
  for (let i = 0; i < keep; i++) {
    const p = e[order[i] as number] as number;
    r -= p;
    if (r <= 0 || i === keep - 1) return { id: order[i] as number, logprob: Math.log(p / total) };
  }
  return { id: order[0] as number, logprob: 0 };
}

/**
 * Plain temperature sampling over the whole vocabulary, drawn in id order: no sort is needed when nothing is cut off
 * (the default of OpenAI-style requests). Sorting 32000 ids cost ~5 ms per row per token, more than a model step.
 */
function sampleAll(logits: Float32Array, temperature: number, rng: Rng): { id: number; logprob: number } {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of logits) if (v > max) max = v;
  const probs = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const p = Math.exp(((logits[i] as number) - max) / temperature);
    probs[i] = p;
    total += p;
  }
  let r = rng.next() * total;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (!(p > 0)) continue; // a token without probability is never drawn (also when r is exactly 0)
    last = i;
    r -= p;
    if (r <= 0) return { id: i, logprob: Math.log(p / total) };
  }
  // Rounding left r just above 0 past the end: the last token with probability, as a sorted draw ends on its last.
  if (last < 0) return { id: argmax(logits), logprob: 0 };
  return { id: last, logprob: Math.log((probs[last] as number) / total) };
}

/**
 * Draws one id from a row of probabilities (computed elsewhere, e.g. a backend's softmax of logits / T), in id
 * order; the log-probability is the drawn one's share of the row's float64 sum.
 */
export function sampleFromProbabilities(probs: Float32Array, rng: Rng): { id: number; logprob: number } {
  let total = 0;
  for (const p of probs) total += p;
  let r = rng.next() * total;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (!(p > 0)) continue;
    last = i;
    r -= p;
    if (r <= 0) return { id: i, logprob: Math.log(p / total) };
  }
  if (last < 0) return { id: 0, logprob: Number.NEGATIVE_INFINITY };
  return { id: last, logprob: Math.log((probs[last] as number) / total) };
}

/**
 * Ids sorted by logit, highest first, ties by ascending id: exactly what a stable comparator sort gives (for
 * NaN-free input), but through a native Float64Array sort of packed integer keys (float32 bits made
 * order-preserving, then the id): at a 32000-token vocabulary the comparator sort cost more than a model step.
 */
export function idsByLogitDescending(values: Float32Array): number[] {
  const n = values.length;
  const idBits = Math.max(1, Math.ceil(Math.log2(n)));
  // 32 key bits + id bits must stay exact in a float64 (53-bit integers); beyond 2M ids use the comparator sort.
  if (32 + idBits > 53) return Array.from(values.keys()).sort((a, b) => (values[b] as number) - (values[a] as number));
  const scale = 2 ** idBits;
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    // -0 and +0 compare equal (as in the comparator); NaN compares equal to everything there: treat it as 0 too.
    asFloat[0] = v === 0 || Number.isNaN(v) ? 0 : v;
    const u = bits[0] as number;
    const ascending = u >= 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0;
    keys[i] = (0xffffffff - ascending) * scale + i;
  }
  keys.sort();
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = (keys[i] as number) % scale;
  return order;
}

function logSoftmaxAt(values: Float32Array, index: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) if (v > max) max = v;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return (values[index] as number) - max - Math.log(sum);
}
