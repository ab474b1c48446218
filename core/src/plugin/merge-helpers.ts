import type { Tensor2D } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { LinearSite } from '../model/graph.ts';
import type { Tf } from '../runtime/types.ts';

export interface WeightUpdate {
  readonly site: LinearSite;
  /** Delta in [out, in] layout; owned by the caller. */
  readonly delta: Tensor2D;
}

/**
 * Adds (sign 1) or subtracts (sign -1) deltas into linear sites' base weights, all-or-nothing: new weights are
 * computed for every site first, checked for non-finite values when `safe`, and only then assigned, so a rejected
 * safe merge leaves every base weight untouched.
 */
export function applyWeightUpdates(
  tf: Tf,
  updates: readonly WeightUpdate[],
  options: { safe: boolean; sign?: 1 | -1 },
): void {
  const sign = options.sign ?? 1;
  const candidates = updates.map(({ site, delta }) =>
    tf.tidy(() => {
      const current = site.base.weightOutIn();
      return sign === 1 ? tf.add(current, delta) : tf.sub(current, delta);
    }),
  ) as Tensor2D[];
  try {
    if (options.safe) {
      updates.forEach(({ site }, i) => {
        const finite = tf.tidy(() => tf.all(tf.isFinite(candidates[i] as Tensor2D)).dataSync()[0] === 1);
        if (!finite) {
          throw new PeftkitError(
            'PEFTKIT_E_MERGE_NONFINITE',
            `merging into '${site.name}' would produce NaN or Inf; nothing was merged`,
            { site: site.name },
          );
        }
      });
    }
    updates.forEach(({ site }, i) => {
      site.base.assignOutIn(candidates[i] as Tensor2D);
    });
  } finally {
    for (const c of candidates) c.dispose();
  }
}
