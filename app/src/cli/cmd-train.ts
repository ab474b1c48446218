import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { type DataConfigInput, loadDataset } from '@peftkit/data';
import { PeftkitError } from '@peftkit/io';
import { createKernel } from '../compose.ts';
import type { loadModel } from '@peftkit/models';
import { formatBytes, formatCount } from '../report/format.ts';
import { MetricsLog, readMetricsLog } from '../report/metrics.ts';
import { ProgressBar } from '../report/progress.ts';
import { summarizeRun } from '../report/summary.ts';
import { REPORT_FILES, writeRunReport } from '../report/write.ts';
import { latestCheckpoint, parseTrainOptions } from '@peftkit/core/train';
import { evaluate } from '@peftkit/core/train';
import { train } from '@peftkit/core/train';
import type { EvalEvent, StepEvent, TrainCallbacks, TrainExample } from '@peftkit/core/train';
import { numberOption, parseCommand, requireString } from './args.ts';
import type { Command, CommandIo } from './commands.ts';
import { loadPlugins } from './discover.ts';
import { loadModelDir, qloraDefaults } from './bnb-load.ts';
import { readRunConfig } from './train-config.ts';
import { checkOutDir, clearOutDir } from './train-out-dir.ts';
import { BUILTIN_CHAT_TEMPLATES, baseModelName, resolveChatTemplate, writeFullModelDir } from './train-setup.ts';

const usage = `Usage: peftkit train --model <dir> --method <name> --data <file> --out <dir> [--eval <file>]
                     [--config <file.json | inline JSON>] [--steps N] [--lr X] [--batch N]
                     [--chat-template <file | ${Object.keys(BUILTIN_CHAT_TEMPLATES).join(' | ')}>]
                     [--resume | --overwrite] [--backend wasm|cpu|tensorflow] [--plugin <specifier>]...

Trains an adapter of <method> (lora, full, prefix-tuning, …) on a JSONL/CSV file and writes to --out: the adapter
in its method's format, checkpoint-<step>/ directories, metrics.jsonl, loss.svg and report.html.
--config holds {"method": {…plugin config…}, "training": {…training options…}, "data": {…data options…}}
(see docs/training.md); --steps, --lr and --batch override training.steps, .lr and .batchSize.
--chat-template renders {"messages"} data for a model without one (a .jinja file, a tokenizer_config.json, or a
builtin name). Every option is validated before anything is written to --out.
--resume continues from the last complete checkpoint in --out; an existing non-empty --out is otherwise refused
unless --overwrite is given. Ctrl-C stops after the current step, writes a checkpoint and exits with 130.`;

/** Exit code after Ctrl-C (the shell's 128 + SIGINT), so scripts can tell an interrupted run from a finished one. */
export const EXIT_INTERRUPTED = 130;

const ADAPTER = 'default';

function combine(...parts: TrainCallbacks[]): TrainCallbacks {
  return {
    onStep: async (e: StepEvent) => {
      for (const p of parts) await p.onStep?.(e);
    },
    onEval: async (e: EvalEvent) => {
      for (const p of parts) await p.onEval?.(e);
    },
    onSave: async (e) => {
      for (const p of parts) await p.onSave?.(e);
    },
  };
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'train an adapter (or full fine-tuning) on a JSONL/CSV file',
  usage,
  async run(argv, io) {
    const { values } = parseCommand(
      argv,
      {
        model: { type: 'string' },
        method: { type: 'string' },
        data: { type: 'string' },
        eval: { type: 'string' },
        out: { type: 'string' },
        config: { type: 'string' },
        steps: { type: 'string' },
        lr: { type: 'string' },
        batch: { type: 'string' },
        resume: { type: 'boolean' },
        overwrite: { type: 'boolean' },
        backend: { type: 'string' },
        plugin: { type: 'string', multiple: true },
        'chat-template': { type: 'string' },
      },
      'train',
    );
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const c = 'train';
    const modelDir = requireString(values, 'model', c);
    const method = requireString(values, 'method', c);
    const dataFile = requireString(values, 'data', c);
    const out = requireString(values, 'out', c);
    if (values.resume && values.overwrite)
      throw new PeftkitError('PEFTKIT_E_USAGE', 'train: --resume and --overwrite exclude each other', { command: c });
    const overrides: Record<string, number> = {};
    if (values.steps !== undefined)
      overrides.steps = numberOption(values, 'steps', c, 0, (n) => Number.isInteger(n) && n > 0, 'an integer > 0');
    if (values.lr !== undefined) overrides.lr = numberOption(values, 'lr', c, 0, (n) => n >= 0, 'a number ≥ 0');
    if (values.batch !== undefined)
      overrides.batchSize = numberOption(values, 'batch', c, 0, (n) => Number.isInteger(n) && n > 0, 'an integer > 0');
    const config = await readRunConfig(values.config as string | undefined);
    // checkpoints by default so that --resume has something to continue from
    const trainingOptions = { saveEvery: 50, ...config.training, ...overrides };
    parseTrainOptions(trainingOptions); // bad options fail here, before --out is touched
    await checkOutDir(out, values.resume === true, values.overwrite === true);
    const resumeFrom = values.resume ? await latestCheckpoint(out) : null;
    if (values.resume && resumeFrom === null)
      throw new PeftkitError('PEFTKIT_E_CHECKPOINT', `nothing to resume: no complete checkpoint in '${out}'`, {
        dir: out,
      });

    const kernel = await createKernel({
      ...(values.backend ? { backend: values.backend as string } : {}),
      logger: { warn: io.err, info() {} },
    });
    await loadPlugins(kernel, (values.plugin as string[] | undefined) ?? []);
    if (!kernel.registry.has(method)) {
      throw new PeftkitError(
        'PEFTKIT_E_USAGE',
        `train: unknown method '${method}' (installed: ${kernel.registry
          .list()
          .map((p) => p.meta.name)
          .join(', ')})`,
        {
          option: 'method',
        },
      );
    }
    const { model, tokenizer, config: modelConfig, generationConfig, bnb } = await loadModelDir(kernel.tf, modelDir);
    try {
      if (tokenizer === null)
        throw new PeftkitError('PEFTKIT_E_TOKENIZER_NOT_FOUND', `no tokenizer in '${modelDir}'`, { dir: modelDir });
      const dataConfig = {
        maxLength: Math.min(model.dims.maxPositions, 1024),
        ...(model.labels ? { labels: [...model.labels] } : {}),
        ...config.data,
      } as DataConfigInput;
      const chatTemplate = await resolveChatTemplate(values['chat-template'] as string | undefined, modelDir);
      const context = chatTemplate === undefined ? { tokenizer } : { tokenizer, chatTemplate };
      const dataset = await loadDataset(dataFile, context, dataConfig);
      const evalData =
        values.eval !== undefined
          ? (
              await loadDataset(values.eval as string, context, {
                ...dataConfig,
                evalFraction: 0,
                evalCount: 0,
                shuffle: false,
              })
            ).train
          : dataset.eval;
      // the tokenizer for prompt tuning's TEXT init; the base's name for the saved configs (PEFT's AutoPeftModel)
      const manager = kernel.adapters(model, { tokenizer, baseModel: baseModelName(modelDir, modelConfig) });
      if (!resumeFrom)
        manager.create(
          ADAPTER,
          method,
          method === 'qlora' ? { ...qloraDefaults(bnb), ...config.method } : config.method,
        );
      const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
      await clearOutDir(out, values.resume === true);
      const aborted = await runTraining(io, {
        kernel,
        model,
        manager,
        method,
        dataset,
        evalData,
        padId,
        out,
        trainingOptions,
        resumeFrom,
      });
      if (aborted) return EXIT_INTERRUPTED;
      if (method === 'full') {
        // full fine-tuning trained the base itself: write it out as a model directory, not an adapter
        const files = await writeFullModelDir(model, out, { dir: modelDir, config: modelConfig, generationConfig });
        io.err(`model directory: ${files.join(', ')} in ${out} (use it as --model)`);
      }
      return 0;
    } finally {
      model.dispose();
    }
  },
};

async function runTraining(
  io: CommandIo,
  run: {
    kernel: Awaited<ReturnType<typeof createKernel>>;
    model: Awaited<ReturnType<typeof loadModel>>['model'];
    manager: ReturnType<Awaited<ReturnType<typeof createKernel>>['adapters']>;
    method: string;
    dataset: Awaited<ReturnType<typeof loadDataset>>;
    evalData: readonly TrainExample[];
    padId: number;
    out: string;
    trainingOptions: Record<string, unknown>;
    resumeFrom: string | null;
  },
): Promise<boolean> {
  const { kernel, model, manager, out } = run;
  const tf = kernel.tf;
  await mkdir(out, { recursive: true });
  const metrics = await MetricsLog.open(join(out, REPORT_FILES.metrics));
  const progress = new ProgressBar({
    write: (text: string) => io.out(text, false),
    isTTY: process.stdout?.isTTY === true,
  });
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.on?.('SIGINT', onSigint);
  try {
    if (!run.resumeFrom && run.evalData.length > 0) {
      // the "before" point of the report: eval at step 0 with the fresh adapter
      const r = evaluate(tf, model, run.evalData, { padId: run.padId, batchSize: 8, selection: { active: [ADAPTER] } });
      const event: EvalEvent = {
        step: 0,
        loss: r.loss,
        perplexity: r.perplexity,
        examples: r.examples,
        ...(r.accuracy !== undefined ? { accuracy: r.accuracy } : {}),
      };
      await metrics.onEval(event);
      progress.onEval(event);
    }
    const result = await train({
      tf,
      model,
      manager,
      adapter: ADAPTER,
      trainData: run.dataset.train,
      evalData: run.evalData,
      padId: run.padId,
      options: run.trainingOptions,
      callbacks: combine(progress, metrics),
      outDir: out,
      signal: stop.signal,
      ...(run.resumeFrom ? { resumeFrom: run.resumeFrom } : {}),
    });
    progress.close();
    await metrics.close();
    // The plugin's own counts: trainable vs frozen tensors it holds, and their bytes (not the base's).
    const stats = manager.stats(ADAPTER);
    let total = 0;
    for (const v of model.parameters().values()) total += v.size;
    const summary = summarizeRun(await readMetricsLog(metrics.file), {
      name: out,
      method: run.method,
      trainableParams: stats.trainableParams,
      frozenParams: stats.frozenParams,
      residentBytes: stats.residentBytes,
      totalParams: total,
      config: { method: manager.get(ADAPTER).config as Record<string, unknown>, training: run.trainingOptions },
    });
    const files = await writeRunReport(out, summary);
    io.err(
      `adapter: ${formatCount(stats.trainableParams)} trainable, ${formatCount(stats.frozenParams)} frozen ` +
        `parameters, ${formatBytes(stats.residentBytes)} resident`,
    );
    io.err(
      result.aborted
        ? `interrupted at step ${result.step}/${result.totalSteps} (exit ${EXIT_INTERRUPTED}); ` +
            `continue with --resume (last checkpoint: ${result.checkpoints.at(-1) ?? 'none'})`
        : `trained ${result.step} steps${result.stoppedEarly ? ' (stopped early)' : ''}; adapter, ` +
            `${REPORT_FILES.metrics}, ${files.curve} and ${files.report} in ${out}`,
    );
    manager.dispose();
    return result.aborted;
  } finally {
    process.off?.('SIGINT', onSigint);
    await metrics.close();
  }
}
