/**
 * Learning-rate multipliers of transformers' get_{constant,linear,cosine}_schedule_with_warmup. `step` is the
 * number of optimizer steps already taken (0 for the first update), as LambdaLR sees it; with warmup the first
 * update therefore uses lr 0, exactly as in transformers.
 */
export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export function scheduleFactor(kind: ScheduleKind, step: number, totalSteps: number, warmupSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (kind === 'constant') return 1;
  if (kind === 'linear') return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  // num_cycles = 0.5: half a cosine from 1 down to 0
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 2 * 0.5 * progress)));
}

/** Warmup steps as transformers computes them: explicit steps win, else ceil(ratio · total). */
export function warmupStepsFor(totalSteps: number, warmupSteps: number | null, warmupRatio: number): number {
  return warmupSteps ?? Math.ceil(totalSteps * warmupRatio);
}
