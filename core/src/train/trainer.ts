import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { AdapterManager } from '../adapter/manager.ts';
import { disposeSaved, writeAdapterDir } from '../adapter/files.ts';
import { collate } from './collate.ts';
import { PeftkitError } from '@peftkit/io';
import type { Tf } from '../runtime/types.ts';
import { Rng } from '../util/rng.ts';
import { BatchStream, stepsForEpochs } from './batches.ts';
import { type LoopState, restore, saveCheckpoint } from './checkpointing.ts';
import { clipByGlobalNorm } from './clip.ts';
import { evaluate } from './evaluate.ts';
import { batchLossSum, checkBatchLabels, type TrainableModel } from './loss.ts';
import { createOptimizer } from './optimizers.ts';
import { parseTrainOptions, type TrainOptionsInput } from './options.ts';
import { scheduleFactor, warmupStepsFor } from './schedule.ts';
import type { EvalEvent, Optimizer, StepEvent, TrainBatch, TrainCallbacks, TrainExample } from './types.ts';

export interface TrainArgs {
  readonly tf: Tf;
  /** A loaded model (`loadModel(...).model`) or any model with `forward` (causal LM) / `classify` (seq-cls). */
  readonly model: TrainableModel;
  /** The adapter manager of `model` (`kernel.adapters(model)`). */
  readonly manager: AdapterManager;
  /** The adapter to train. It must exist, unless `resumeFrom` is given (then it is loaded from the checkpoint). */
  readonly adapter: string;
  readonly trainData: readonly TrainExample[];
  readonly evalData?: readonly TrainExample[];
  /** Token id used to pad batches (masked out, never in the loss). */
  readonly padId: number;
  readonly options?: TrainOptionsInput;
  readonly callbacks?: TrainCallbacks;
  /** Where checkpoints (`checkpoint-<step>/`) and the final adapter go. */
  readonly outDir?: string;
  /** A checkpoint directory to continue from; an existing adapter of the same name is replaced by its weights. */
  readonly resumeFrom?: string;
  /** Stops after the current step (checked after callbacks and checkpointing). */
  readonly signal?: AbortSignal;
}

export interface TrainResult {
  /** Optimizer steps done in total (including those before a resume). */
  readonly step: number;
  readonly totalSteps: number;
  /** One event per step of this run (independent of logEvery). */
  readonly history: readonly StepEvent[];
  readonly evals: readonly EvalEvent[];
  readonly stoppedEarly: boolean;
  readonly aborted: boolean;
  readonly checkpoints: readonly string[];
  readonly bestEvalLoss: number | null;
}

function assertData(name: string, data: readonly TrainExample[] | undefined, required: boolean): void {
  if (data === undefined) return;
  if (!Array.isArray(data) || (required && data.length === 0)) {
    throw new PeftkitError('PEFTKIT_E_DATA', `${name} is empty`, { data: name });
  }
}

/**
 * Trains one adapter: only `handle.trainableVariables` get gradients (the base stays frozen), with AdamW or SGD,
 * a warmup schedule, global-norm clipping and token-weighted gradient accumulation; evaluates, stops early,
 * checkpoints atomically and resumes bit-exactly. Frees every tensor it creates.
 */
export async function train(args: TrainArgs): Promise<TrainResult> {
  const { tf, model, manager, adapter, trainData, evalData, padId } = args;
  const options = parseTrainOptions(args.options ?? {});
  assertData('trainData', trainData, true);
  assertData('evalData', evalData, false);
  if (!Number.isInteger(padId) || padId < 0 || padId >= model.dims.vocabSize) {
    throw new PeftkitError('PEFTKIT_E_TRAIN_OPTIONS', `padId ${padId} is not a token id of the model`, { padId });
  }
  if (options.saveEvery > 0 && args.outDir === undefined) {
    throw new PeftkitError('PEFTKIT_E_TRAIN_OPTIONS', 'saveEvery needs an output directory (outDir)', {});
  }
  const totalSteps =
    options.steps ?? stepsForEpochs(trainData.length, options.batchSize, options.gradAccum, options.epochs);
  const warmup = warmupStepsFor(totalSteps, options.warmupSteps, options.warmupRatio);
  const settings = {
    betas: options.betas,
    eps: options.eps,
    weightDecay: options.weightDecay,
    momentum: options.momentum,
  };
  const optimizer = createOptimizer(tf, options.optimizer, settings);
  // dropout draws from its own stream, derived from the seed (its state is checkpointed)
  const dropoutRng = new Rng((Math.imul(options.seed ^ 0x5bd1e995, 0x01000193) + 0x7f4a7c15) >>> 0);
  const state: LoopState = { step: 0, position: { epoch: 0, cursor: 0 }, best: null, bad: 0, elapsedBefore: 0 };
  try {
    if (args.resumeFrom !== undefined) await restore(args, args.resumeFrom, totalSteps, optimizer, dropoutRng, state);
    const variables = manager.trainableVariables(adapter);
    if (variables.length === 0)
      throw new PeftkitError('PEFTKIT_E_TRAIN_NOTHING', `adapter '${adapter}' has no trainable variables`, { adapter });
    const method = manager.get(adapter).plugin.meta.name;
    const stream = new BatchStream(trainData.length, options.batchSize, options.seed, options.shuffle, state.position);
    const selection = { active: [adapter] };
    const started = performance.now();
    const history: StepEvent[] = [];
    const evals: EvalEvent[] = [];
    const checkpoints: string[] = [];
    let stoppedEarly = false;
    let lastEvalStep = -1;

    /** Saves the loop's state at the current step; `elapsed`: this run's seconds so far. */
    const checkpoint = async (elapsed: number): Promise<void> => {
      const total = state.elapsedBefore + elapsed;
      const dir = await saveCheckpoint(
        args,
        method,
        variables,
        optimizer,
        dropoutRng,
        state,
        totalSteps,
        options,
        total,
      );
      checkpoints.push(dir);
      await args.callbacks?.onSave?.({ step: state.step, dir });
    };

    const runEval = async (): Promise<void> => {
      if (!evalData || evalData.length === 0) return;
      const r = evaluate(tf, model, evalData, {
        padId,
        batchSize: options.evalBatchSize ?? options.batchSize,
        selection,
      });
      const event: EvalEvent = {
        step: state.step,
        loss: r.loss,
        perplexity: r.perplexity,
        examples: r.examples,
        ...(r.accuracy !== undefined ? { accuracy: r.accuracy } : {}),
      };
      evals.push(event);
      lastEvalStep = state.step;
      if (options.earlyStopping) {
        // transformers' EarlyStoppingCallback: an improvement must beat the best by more than the threshold
        if (
          state.best === null ||
          (r.loss < state.best && Math.abs(r.loss - state.best) > options.earlyStopping.minDelta)
        ) {
          state.best = r.loss;
          state.bad = 0;
        } else {
          state.bad++;
          if (state.bad >= options.earlyStopping.patience) stoppedEarly = true;
        }
      } else if (state.best === null || r.loss < state.best) {
        state.best = r.loss;
      }
      await args.callbacks?.onEval?.(event);
    };

    while (state.step < totalSteps && !stoppedEarly && !args.signal?.aborted) {
      const lr = options.lr * scheduleFactor(options.schedule, state.step, totalSteps, warmup);
      const batches: TrainBatch[] = [];
      for (let i = 0; i < options.gradAccum; i++) {
        const batch = collate(
          stream.next().map((index) => trainData[index] as TrainExample),
          { padId },
        );
        checkBatchLabels(batch, model.dims.vocabSize);
        batches.push(batch);
      }
      const { loss, gradNorm } = step(tf, model, variables, batches, optimizer, lr, options.maxGradNorm, {
        selection,
        training: true,
        rng: dropoutRng,
      });
      state.step++;
      state.position = stream.position;
      const event: StepEvent = {
        step: state.step,
        totalSteps,
        epoch: state.position.epoch + state.position.cursor / trainData.length,
        loss,
        lr,
        gradNorm,
        tokens: batches.reduce((n, b) => n + b.tokens, 0),
        // seconds since this run started (a resumed run restarts the clock, as StepEvent documents)
        elapsed: (performance.now() - started) / 1000,
      };
      history.push(event);
      if (state.step % options.logEvery === 0 || state.step === totalSteps) await args.callbacks?.onStep?.(event);
      if (options.evalEvery > 0 && state.step % options.evalEvery === 0) await runEval();
      if (args.outDir !== undefined && options.saveEvery > 0 && state.step % options.saveEvery === 0) {
        await checkpoint(event.elapsed);
      }
    }
    const aborted = state.step < totalSteps && !stoppedEarly;
    const lastStep = history.at(-1);
    if (
      aborted &&
      args.outDir !== undefined &&
      options.saveEvery > 0 &&
      lastStep !== undefined &&
      lastStep.step % options.saveEvery !== 0
    ) {
      // an interrupted run keeps the steps it made: one more checkpoint where it stopped, for --resume
      await checkpoint(lastStep.elapsed);
    }
    if (!aborted && lastEvalStep !== state.step) await runEval();
    if (args.outDir !== undefined && !aborted) {
      const saved = manager.save(adapter);
      try {
        await writeAdapterDir(args.outDir, saved);
      } finally {
        disposeSaved(saved);
      }
    }
    return {
      step: state.step,
      totalSteps,
      history,
      evals,
      stoppedEarly,
      aborted,
      checkpoints,
      bestEvalLoss: state.best,
    };
  } finally {
    optimizer.dispose();
  }
}

/** One optimizer step over the micro-batches; returns the step's loss (per loss token) and the pre-clip norm. */
function step(
  tf: Tf,
  model: TrainableModel,
  variables: readonly Variable[],
  batches: readonly TrainBatch[],
  optimizer: Optimizer,
  lr: number,
  maxGradNorm: number,
  forward: Parameters<typeof batchLossSum>[3],
): { loss: number; gradNorm: number } {
  const lossTokens = batches.reduce((n, b) => n + b.lossTokens, 0);
  // A step whose micro-batches carry no loss token (everything masked) changes nothing.
  if (lossTokens === 0) return { loss: Number.NaN, gradNorm: 0 };
  let sum: Record<string, Tensor> | null = null;
  let loss = 0;
  for (const batch of batches) {
    if (batch.lossTokens === 0) continue;
    const { value, grads } = tf.variableGrads(() => {
      // variableGrads tidies everything f creates but its result
      return tf.div(batchLossSum(tf, model, batch, forward).sum, lossTokens) as Scalar;
    }, variables as Variable[]);
    loss += (value.dataSync() as Float32Array)[0] as number;
    value.dispose();
    if (sum === null) sum = grads;
    else {
      for (const [name, g] of Object.entries(grads)) {
        const previous = sum[name];
        sum[name] = previous === undefined ? g : tf.add(previous, g);
        if (previous !== undefined) {
          previous.dispose();
          g.dispose();
        }
      }
    }
  }
  const clipped = clipByGlobalNorm(tf, sum ?? {}, maxGradNorm);
  try {
    optimizer.apply(variables, clipped.grads, lr);
  } finally {
    for (const g of Object.values(clipped.grads)) g.dispose();
  }
  return { loss, gradNorm: clipped.norm };
}
