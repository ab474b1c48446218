import { PeftkitError } from '../errors.ts';
import type { Rng } from '../util/rng.ts';

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
  const bad = (field: string, why: string) => new PeftkitError('PEFTKIT_E_GENERATE_OPTIONS', `${field} ${why}`, { field });
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature)) throw bad('temperature', 'must be a finite number ≥ 0');
  if (!Number.isInteger(o.topK) || o.topK < 0) throw bad('top_k', 'must be an integer ≥ 0');
  if (!(o.topP > 0 && o.topP <= 1)) throw bad('top_p', 'must be in (0, 1]');
  if (!(o.repetitionPenalty > 0) || !Number.isFinite(o.repetitionPenalty)) throw bad('repetition_penalty', 'must be a finite number > 0');
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

/** Picks the next token from one row of logits. Returns the id and its log-probability under the sampling distribution. */
export function sampleToken(logits: Float32Array, options: SamplingOptions, rng: Rng, seen: readonly number[]): { id: number; logprob: number } {
  const work = Float32Array.from(logits);
  penalize(work, seen, options.repetitionPenalty);
  if (options.temperature === 0) {
    const id = argmax(work);
    return { id, logprob: logSoftmaxAt(work, id) };
  }
  let order = Array.from(work.keys()).sort((a, b) => (work[b] as number) - (work[a] as number));
  if (options.topK > 0) order = order.slice(0, options.topK);
  const max = work[order[0] as number] as number;
  let probs = order.map((id) => Math.exp(((work[id] as number) - max) / options.temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  if (options.topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < probs.length && cumulative < options.topP * total) cumulative += probs[keep++] as number;
    order = order.slice(0, Math.max(1, keep));
    probs = probs.slice(0, Math.max(1, keep));
    total = probs.reduce((a, b) => a + b, 0);
  }
  let r = rng.next() * total;
  for (let i = 0; i < order.length; i++) {
    r -= probs[i] as number;
    if (r <= 0 || i === order.length - 1) return { id: order[i] as number, logprob: Math.log((probs[i] as number) / total) };
  }
  return { id: order[0] as number, logprob: 0 };
}

function logSoftmaxAt(values: Float32Array, index: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) if (v > max) max = v;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return (values[index] as number) - max - Math.log(sum);
}
