import { copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kernel } from '@peftkit/core';
import { latestCheckpoint, OPTIMIZER_FILE, TRAINER_STATE_FILE, train } from '@peftkit/core/train';
import { loadDataset } from '@peftkit/data';
import { PeftkitError } from '@peftkit/io';
import type { JobRunner, RunInput, RunResult } from '@peftkit/server';
import { loadModelDir, qloraDefaults } from '../cli/bnb-load.ts';
import { loadPlugins } from '../cli/discover.ts';
import { baseModelName, resolveChatTemplate } from '../cli/train-setup.ts';
import { createKernel } from '../compose.ts';

export interface RunnerOptions {
  modelDir: string;
  /** The adapter root the engines serve: final adapters (and servable checkpoints) are published there. */
  adapterRoot: string;
  backend?: string;
  plugins?: readonly string[];
  /** Checkpoint every N steps unless the job's `peftkit.training.saveEvery` says otherwise (default 10). */
  saveEvery?: number;
}

export interface ComposedRunner extends JobRunner {
  /** Method plugins this runner can train (for create-time validation). */
  methods(): readonly string[];
  close(): Promise<void>;
}

const ADAPTER = 'default';
/** OpenAI's "auto" hyperparameters, sized for the small models peftkit trains on CPU. */
const AUTO = { n_epochs: 3, batch_size: 4, lr: 2e-3 };

/** Copies a directory's adapter files into `<root>/<name>` atomically (a complete directory appears, or none). */
async function publish(from: string, root: string, name: string, skip: ReadonlySet<string> = new Set()): Promise<void> {
  const temp = join(root, `.${name}.${process.pid}.${Date.now()}.tmp`);
  await mkdir(temp, { recursive: true });
  try {
    for (const entry of await readdir(from, { withFileTypes: true })) {
      if (entry.isFile() && !entry.name.startsWith('.') && !skip.has(entry.name))
        await copyFile(join(from, entry.name), join(temp, entry.name));
    }
    const target = join(root, name);
    const old = `${temp}.old`;
    const existed = await stat(target).then(
      () => true,
      () => false,
    );
    if (existed) await rename(target, old);
    await rename(temp, target);
    if (existed) await rm(old, { recursive: true, force: true });
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/** Training options of a job: OpenAI hyperparameters mapped onto the core trainer, `peftkit` overrides last. */
export function trainingOptionsOf(job: RunInput['job'], saveEvery: number): Record<string, unknown> {
  const h = job.hyperparameters;
  const multiplier = h.learning_rate_multiplier === 'auto' ? 1 : h.learning_rate_multiplier;
  const options: Record<string, unknown> = {
    seed: job.seed,
    batchSize: h.batch_size === 'auto' ? AUTO.batch_size : h.batch_size,
    epochs: h.n_epochs === 'auto' ? AUTO.n_epochs : h.n_epochs,
    lr: (job.peftkit.lr ?? AUTO.lr) * multiplier,
    saveEvery,
    logEvery: 1, // every step reaches the executor, which looks for cancel/pause requests
    ...(job.peftkit.training ?? {}),
  };
  if (job.peftkit.steps !== undefined) options.steps = job.peftkit.steps;
  return options;
}

/**
 * The application's JobRunner: the kernel with every installed method plugin (the server cannot import them),
 * the served base model, the core trainer with checkpoints in the job's work directory (a new worker continues
 * from the latest one, bit-exactly), and the final adapter published into the served adapter root.
 */
export async function createJobRunner(options: RunnerOptions): Promise<ComposedRunner> {
  const kernel: Kernel = await createKernel({
    ...(options.backend ? { backend: options.backend } : {}),
    logger: { warn: () => {}, info: () => {} },
  });
  await loadPlugins(kernel, options.plugins ?? []);
  const saveEvery = options.saveEvery ?? 10;
  await mkdir(options.adapterRoot, { recursive: true });

  async function run(input: RunInput): Promise<RunResult> {
    const { job } = input;
    const method = job.peftkit.method;
    if (!kernel.registry.has(method)) {
      const installed = kernel.registry.list().map((p) => p.meta.name);
      throw new PeftkitError(
        'PEFTKIT_E_JOB_METHOD',
        `unknown method '${method}' (installed: ${installed.join(', ')})`,
        { method },
      );
    }
    const trainingOptions = trainingOptionsOf(job, saveEvery);
    const { model, tokenizer, config, bnb } = await loadModelDir(kernel.tf, options.modelDir);
    const manager = kernel.adapters(model, {
      ...(tokenizer ? { tokenizer } : {}),
      baseModel: baseModelName(options.modelDir, config),
    });
    try {
      if (tokenizer === null)
        throw new PeftkitError('PEFTKIT_E_TOKENIZER_NOT_FOUND', `no tokenizer in '${options.modelDir}'`, {
          dir: options.modelDir,
        });
      const chatTemplate = await resolveChatTemplate(undefined, options.modelDir).catch(() => undefined);
      const context = chatTemplate === undefined ? { tokenizer } : { tokenizer, chatTemplate };
      // no eval split carved from the training file: validation data comes from validation_file, as OpenAI's
      const dataConfig = {
        maxLength: Math.min(model.dims.maxPositions, 1024),
        seed: job.seed,
        evalFraction: 0,
        evalCount: 0,
        fileType: 'jsonl' as const,
      };
      const dataset = await loadDataset(input.trainingFile, context, dataConfig);
      const evalData =
        input.validationFile === null
          ? []
          : (await loadDataset(input.validationFile, context, { ...dataConfig, shuffle: false })).train;
      await mkdir(input.workDir, { recursive: true });
      const resumeFrom = await latestCheckpoint(input.workDir);
      if (resumeFrom === null)
        manager.create(
          ADAPTER,
          method,
          method === 'qlora' ? { ...qloraDefaults(bnb), ...job.peftkit.config } : job.peftkit.config,
        );
      else await input.message(`Resuming from ${resumeFrom.split(/[\\/]/).at(-1)}`, { checkpoint: resumeFrom });
      let tokens = 0;
      let lastLoss: number | null = null;
      const result = await train({
        tf: kernel.tf,
        model,
        manager,
        adapter: ADAPTER,
        trainData: dataset.train,
        evalData,
        padId: tokenizer.padId ?? tokenizer.eosId ?? 0,
        options: { ...(evalData.length > 0 ? { evalEvery: saveEvery } : {}), ...trainingOptions },
        outDir: input.workDir,
        signal: input.signal,
        ...(resumeFrom === null ? {} : { resumeFrom }),
        callbacks: {
          onStep: async (e) => {
            tokens += e.tokens;
            lastLoss = e.loss;
            await input.progress({ step: e.step, totalSteps: e.totalSteps, loss: e.loss, tokens: e.tokens });
            // training is synchronous tfjs work: let timers and sockets (HTTP, queue locks) through between steps
            await new Promise<void>((resolve) => setImmediate(resolve));
          },
          onEval: (e) => input.eval({ step: e.step, loss: e.loss }),
          onSave: async ({ step, dir }) => {
            const name = `${input.adapter}.ckpt-step-${step}`;
            await publish(dir, options.adapterRoot, name, new Set([OPTIMIZER_FILE, TRAINER_STATE_FILE]));
            await input.checkpoint({ step, dir, name, loss: lastLoss });
          },
        },
      });
      if (result.aborted)
        return { completed: false, step: result.step, totalSteps: result.totalSteps, trainedTokens: tokens };
      await publish(input.workDir, options.adapterRoot, input.adapter);
      return { completed: true, step: result.step, totalSteps: result.totalSteps, trainedTokens: tokens };
    } finally {
      manager.dispose();
      model.dispose();
    }
  }

  return {
    run,
    methods: () => kernel.registry.list().map((p) => p.meta.name),
    close: () => kernel.dispose(),
  };
}
