import { Rng } from '../util/rng.ts';
import { PeftkitError } from '../errors.ts';

export interface SplitOptions {
  /** Share of items for evaluation, in [0, 1). */
  readonly evalFraction?: number | undefined;
  /** Number of items for evaluation (wins over evalFraction). */
  readonly evalCount?: number | undefined;
  /** Shuffle before splitting (default true). */
  readonly shuffle?: boolean | undefined;
  readonly seed?: number | undefined;
}

/** A seeded permutation of `items` (a copy; Fisher–Yates with the core Rng). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  return new Rng(seed).shuffle([...items]);
}

/**
 * The order of example indices for one epoch: a permutation that depends only on (count, seed, epoch), so a
 * resumed run recomputes exactly the order it stopped in from its saved position.
 */
export function epochOrder(count: number, seed: number, epoch: number): number[] {
  if (!(Number.isInteger(count) && count >= 0 && Number.isInteger(epoch) && epoch >= 0)) {
    throw new PeftkitError(
      'PEFTKIT_E_DATA_OPTIONS',
      `epochOrder needs integers count >= 0 and epoch >= 0, got ${count}, ${epoch}`,
    );
  }
  // Epoch e uses the (e+1)-th generator forked from the seed's: independent streams, no saved state needed.
  const base = new Rng(seed);
  let rng = base.fork();
  for (let e = 0; e < epoch; e++) rng = base.fork();
  return rng.shuffle(Array.from({ length: count }, (_, i) => i));
}

/**
 * Splits items into train and eval, deterministically given the seed: shuffle (unless shuffle: false), then the
 * first evalCount (or round(evalFraction · n)) items are eval and the rest train. Train must not end up empty.
 */
export function splitTrainEval<T>(items: readonly T[], options: SplitOptions = {}): { train: T[]; eval: T[] } {
  const { evalFraction, evalCount } = options;
  if (evalFraction !== undefined && !(evalFraction >= 0 && evalFraction < 1)) {
    throw new PeftkitError('PEFTKIT_E_DATA_OPTIONS', `evalFraction must be in [0, 1), got ${evalFraction}`);
  }
  if (evalCount !== undefined && !(Number.isInteger(evalCount) && evalCount >= 0)) {
    throw new PeftkitError('PEFTKIT_E_DATA_OPTIONS', `evalCount must be a non-negative integer, got ${evalCount}`);
  }
  const count = evalCount ?? Math.round((evalFraction ?? 0) * items.length);
  if (count >= items.length) {
    throw new PeftkitError(
      'PEFTKIT_E_DATA_OPTIONS',
      `an eval split of ${count} leaves no training data (${items.length} records)`,
    );
  }
  const order = (options.shuffle ?? true) ? shuffled(items, options.seed ?? 0) : [...items];
  return { eval: order.slice(0, count), train: order.slice(count) };
}
