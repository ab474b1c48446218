import type { ChartPoint } from './chart-scale.ts';
import type { MetricsRecord } from './metrics.ts';

/** Evaluation numbers at one point of a run. */
export interface EvalSnapshot {
  readonly step?: number | undefined;
  readonly loss?: number | undefined;
  readonly perplexity?: number | undefined;
  readonly accuracy?: number | undefined;
}

/** Everything a report shows about one run. */
export interface RunSummary {
  readonly name: string;
  readonly method: string;
  readonly trainableParams?: number | undefined;
  /** Non-trainable tensors the adapter holds besides the base (plugin stats); 0 or absent for most methods. */
  readonly frozenParams?: number | undefined;
  /** Bytes the adapter's tensors occupy (plugin stats). */
  readonly residentBytes?: number | undefined;
  readonly totalParams?: number | undefined;
  readonly steps: number;
  readonly seconds: number;
  readonly tokens: number;
  readonly finalTrainLoss?: number | undefined;
  /** Eval before training (an eval at step 0 in the log, or given). */
  readonly before?: EvalSnapshot | undefined;
  /** The last eval. */
  readonly after?: EvalSnapshot | undefined;
  /** The eval with the lowest loss. */
  readonly best?: EvalSnapshot | undefined;
  readonly config?: Readonly<Record<string, unknown>> | undefined;
  readonly trainCurve: readonly ChartPoint[];
  readonly evalCurve: readonly ChartPoint[];
}

export interface RunInfo {
  readonly name: string;
  readonly method: string;
  readonly trainableParams?: number | undefined;
  readonly frozenParams?: number | undefined;
  readonly residentBytes?: number | undefined;
  readonly totalParams?: number | undefined;
  readonly config?: Readonly<Record<string, unknown>> | undefined;
  /** Overrides the step-0 eval of the log. */
  readonly before?: EvalSnapshot | undefined;
  /** Merged over the last eval of the log (e.g. a task metric measured after training, like choice accuracy). */
  readonly after?: EvalSnapshot | undefined;
}

const snapshot = (e: Extract<MetricsRecord, { type: 'eval' }>): EvalSnapshot => ({
  step: e.step,
  loss: e.loss,
  perplexity: e.perplexity,
  accuracy: e.accuracy,
});

/**
 * Summarises a metrics log. A resumed run appends to the same log, so steps may repeat: the last record of each
 * step wins, and time is the sum over segments (elapsed restarts at 0 after a resume).
 */
export function summarizeRun(records: readonly MetricsRecord[], info: RunInfo): RunSummary {
  const steps = new Map<number, Extract<MetricsRecord, { type: 'step' }>>();
  const evals = new Map<number, Extract<MetricsRecord, { type: 'eval' }>>();
  let seconds = 0;
  let segment = 0;
  for (const r of records) {
    if (r.type === 'step') {
      if (r.elapsed < segment) seconds += segment;
      segment = r.elapsed;
      steps.set(r.step, r);
    } else if (r.type === 'eval') {
      evals.set(r.step, r);
    }
  }
  seconds += segment;
  const stepList = [...steps.values()].sort((a, b) => a.step - b.step);
  const evalList = [...evals.values()].sort((a, b) => a.step - b.step);
  const zero = evals.get(0);
  const trained = evalList.filter((e) => e.step > 0);
  const last = trained.at(-1);
  let best: (typeof evalList)[number] | undefined;
  for (const e of trained) if (best === undefined || e.loss < best.loss) best = e;
  return {
    name: info.name,
    method: info.method,
    trainableParams: info.trainableParams,
    frozenParams: info.frozenParams,
    residentBytes: info.residentBytes,
    totalParams: info.totalParams,
    steps: stepList.at(-1)?.step ?? 0,
    seconds,
    tokens: stepList.reduce((n, s) => n + s.tokens, 0),
    finalTrainLoss: stepList.at(-1)?.loss,
    before: info.before ?? (zero === undefined ? undefined : snapshot(zero)),
    after:
      last === undefined && info.after === undefined
        ? undefined
        : { ...(last === undefined ? {} : snapshot(last)), ...info.after },
    best: best === undefined ? undefined : snapshot(best),
    config: info.config,
    trainCurve: stepList.map((s) => ({ x: s.step, y: s.loss })),
    evalCurve: evalList.map((e) => ({ x: e.step, y: e.loss })),
  };
}
