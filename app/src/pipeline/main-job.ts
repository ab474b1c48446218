import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdapterManager } from '@peftkit/core';
import { disposeSaved, writeAdapterDir } from '@peftkit/core';
import { PeftkitError } from '@peftkit/io';
import type { Kernel } from '@peftkit/core';
import type { LoadedModel } from '@peftkit/models';
import { MetricsLog, readMetricsLog } from '../report/metrics.ts';
import { ProgressBar, type TextSink } from '../report/progress.ts';
import { type RunSummary, summarizeRun } from '../report/summary.ts';
import { writeComparisonReport } from '../report/write.ts';
import { evaluate } from '@peftkit/core/train';
import { train } from '@peftkit/core/train';
import type { EvalEvent, TrainOptionsInput } from '@peftkit/core/train';
import { choiceAccuracy, type ScorableModel } from './score.ts';
import { type PipelineTask, spamTask, sotuTask } from './tasks.ts';

/**
 * The main job: fine-tune two adapters with two different methods on two real tasks, measure each against the
 * base model on held-out data, and write a comparison report. Serving is the caller's last step.
 */

export interface JobPlan {
  readonly task: PipelineTask;
  readonly method: string;
  readonly config: Record<string, unknown>;
  readonly options: TrainOptionsInput;
}

export interface JobSize {
  readonly sotu: { train: number; eval: number; steps: number };
  readonly spam: { train: number; eval: number; steps: number };
  readonly maxLength: number;
}

export const FULL_SIZE: JobSize = {
  sotu: { train: 800, eval: 96, steps: 100 },
  spam: { train: 1200, eval: 200, steps: 150 },
  maxLength: 96,
};
export const QUICK_SIZE: JobSize = {
  sotu: { train: 24, eval: 8, steps: 3 },
  spam: { train: 24, eval: 8, steps: 3 },
  maxLength: 48,
};

export function planJobs(loaded: LoadedModel, size: JobSize): JobPlan[] {
  const tokenizer = loaded.tokenizer;
  if (tokenizer === null)
    throw new PeftkitError('PEFTKIT_E_TOKENIZER_NOT_FOUND', 'the main job needs a model with a tokenizer', {});
  const common = { batchSize: 8, schedule: 'cosine' as const, warmupRatio: 0.1, maxGradNorm: 1, seed: 42, logEvery: 1 };
  return [
    {
      task: sotuTask(tokenizer, size.sotu, size.maxLength),
      method: 'bottleneck',
      config: { preset: 'pfeiffer', reduction_factor: 4, init_weights: 'mam' },
      options: { ...common, steps: size.sotu.steps, lr: 5e-3, evalEvery: Math.max(1, Math.floor(size.sotu.steps / 4)) },
    },
    {
      task: spamTask(tokenizer, size.spam, size.maxLength),
      method: 'lora',
      config: { r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: 'all-linear' },
      options: { ...common, steps: size.spam.steps, lr: 3e-3, evalEvery: Math.max(1, Math.floor(size.spam.steps / 4)) },
    },
  ];
}

export interface TaskOutcome {
  readonly name: string;
  readonly method: string;
  readonly metric: 'held-out loss' | 'held-out accuracy';
  readonly base: number;
  readonly adapter: number;
  /** True when the adapter is better than the base on the task's metric. */
  readonly improved: boolean;
  readonly trainable: number;
  readonly baseParameters: number;
  readonly seconds: number;
  readonly adapterDir: string;
  readonly summary: RunSummary;
}

/** Held-out loss (and, for a choice task, its real metric: answer accuracy) of the base or of an adapter. */
function measure(
  kernel: Kernel,
  loaded: LoadedModel,
  task: PipelineTask,
  maxLength: number,
  adapter: string | null,
): EvalEvent {
  const selection = adapter === null ? undefined : { active: [adapter] };
  const padId = loaded.tokenizer?.eosId ?? 0;
  const r = evaluate(kernel.tf, loaded.model, task.eval, { padId, batchSize: 16, ...(selection ? { selection } : {}) });
  const event = { step: 0, loss: r.loss, perplexity: r.perplexity, examples: r.examples };
  if (task.kind === 'language') return event;
  const tokenizer = loaded.tokenizer;
  if (tokenizer === null) throw new PeftkitError('PEFTKIT_E_TOKENIZER_NOT_FOUND', 'no tokenizer', {});
  const { accuracy } = choiceAccuracy(
    kernel.tf,
    loaded.model as unknown as ScorableModel,
    tokenizer,
    task.questions,
    task.choices,
    {
      padId,
      batchSize: 16,
      maxLength,
      ...(selection ? { selection } : {}),
    },
  );
  return { ...event, accuracy };
}

export interface RunJobsOptions {
  readonly outDir: string;
  readonly size: JobSize;
  readonly progress: TextSink;
  readonly log: (line: string) => void;
}

/** Trains every planned adapter on `loaded.model` (they stay loaded in `manager`) and writes the report. */
export async function runJobs(
  kernel: Kernel,
  loaded: LoadedModel,
  manager: AdapterManager,
  options: RunJobsOptions,
): Promise<TaskOutcome[]> {
  const plans = planJobs(loaded, options.size);
  const baseParameters = [...loaded.model.parameters().values()].reduce((n, v) => n + v.size, 0);
  const outcomes: TaskOutcome[] = [];
  for (const plan of plans) {
    const { task } = plan;
    if (!kernel.registry.has(plan.method)) {
      throw new PeftkitError(
        'PEFTKIT_E_PLUGIN_UNKNOWN',
        `the main job needs the '${plan.method}' method plugin (@peftkit/${plan.method})`,
        {
          plugin: plan.method,
        },
      );
    }
    const runDir = join(options.outDir, task.name);
    await rm(runDir, { recursive: true, force: true });
    await mkdir(runDir, { recursive: true });
    const baseEval = measure(kernel, loaded, task, options.size.maxLength, null);
    const base = task.kind === 'language' ? baseEval.loss : (baseEval.accuracy as number);
    if (manager.has(task.name)) manager.delete(task.name);
    const record = manager.create(task.name, plan.method, plan.config, { seed: 1 });
    const trainable = record.handle.trainableVariables.reduce((n, v) => n + v.size, 0);
    options.log(
      `\n▶ ${task.title}: ${plan.method} adapter '${task.name}', ${trainable.toLocaleString('en-US')} trainable ` +
        `parameters (${((100 * trainable) / baseParameters).toFixed(2)}% of the base), ${task.train.length} training ` +
        `/ ${task.eval.length} held-out examples`,
    );
    const metrics = await MetricsLog.open(join(runDir, 'metrics.jsonl'));
    const progress = new ProgressBar(options.progress, { every: 10 });
    const started = performance.now();
    try {
      // step 0 of the curves and the "before" of the report: the base model on the held-out data
      progress.onEval(baseEval);
      await metrics.onEval(baseEval);
      await train({
        tf: kernel.tf,
        model: loaded.model,
        manager,
        adapter: task.name,
        trainData: task.train,
        evalData: task.eval,
        padId: loaded.tokenizer?.eosId ?? 0,
        options: plan.options,
        callbacks: {
          onStep: async (e) => {
            progress.onStep(e);
            await metrics.onStep(e);
          },
          onEval: async (e) => {
            progress.onEval(e);
            await metrics.onEval(e);
          },
        },
      });
    } finally {
      progress.close();
      await metrics.close();
    }
    const seconds = (performance.now() - started) / 1000;
    const afterEval = measure(kernel, loaded, task, options.size.maxLength, task.name);
    const after = task.kind === 'language' ? afterEval.loss : (afterEval.accuracy as number);
    const adapterDir = join(options.outDir, 'adapters', task.name);
    const saved = manager.save(task.name);
    try {
      await writeAdapterDir(adapterDir, saved);
    } finally {
      disposeSaved(saved);
    }
    const summary = summarizeRun(await readMetricsLog(join(runDir, 'metrics.jsonl')), {
      name: task.name,
      method: plan.method,
      trainableParams: trainable,
      totalParams: baseParameters,
      // the choice task's real metric is measured apart from the trainer's evals
      ...(afterEval.accuracy !== undefined ? { after: { accuracy: afterEval.accuracy } } : {}),
      config: {
        ...plan.config,
        ...Object.fromEntries(Object.entries(plan.options).map(([k, v]) => [`train.${k}`, v])),
      },
    });
    const language = task.kind === 'language';
    outcomes.push({
      name: task.name,
      method: plan.method,
      metric: language ? 'held-out loss' : 'held-out accuracy',
      base,
      adapter: after,
      improved: language ? after < base : after > base,
      trainable,
      baseParameters,
      seconds,
      adapterDir,
      summary,
    });
  }
  await writeComparisonReport(
    options.outDir,
    outcomes.map((o) => o.summary),
  );
  return outcomes;
}

/** The before/after table printed at the end of the main job. */
export function outcomeTable(outcomes: readonly TaskOutcome[], options: { judged?: boolean } = {}): string {
  // a smoke test trains too few steps for "better"/"not better" to mean anything
  const verdict = (o: TaskOutcome) =>
    options.judged === false ? '(not judged)' : o.improved ? '✓ better' : '✗ not better';
  const header = ['task', 'method', 'metric', 'base model', 'with adapter', 'trained params', 'time'];
  const fmt = (o: TaskOutcome, v: number) =>
    o.metric === 'held-out accuracy' ? `${(100 * v).toFixed(1)}%` : `${v.toFixed(3)} (ppl ${Math.exp(v).toFixed(1)})`;
  const rows = outcomes.map((o) => [
    o.name,
    o.method,
    o.metric,
    fmt(o, o.base),
    `${fmt(o, o.adapter)} ${verdict(o)}`,
    `${o.trainable.toLocaleString('en-US')} (${((100 * o.trainable) / o.baseParameters).toFixed(2)}%)`,
    `${o.seconds.toFixed(0)} s`,
  ]);
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] as string).length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, k) => c.padEnd(widths[k] as number))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n');
}
