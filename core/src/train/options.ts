import { z } from 'zod';
import { PeftkitError } from '@peftkit/io';
import type { OptimizerFactory } from './optimizers.ts';

/**
 * Training options with every default, validated strictly (unknown keys rejected). Names follow transformers'
 * TrainingArguments where one exists (lr = learning_rate, gradAccum = gradient_accumulation_steps, …).
 */
export const TrainOptionsSchema = z
  .strictObject({
    /** Optimizer steps to run; when null, `epochs` decides. */
    steps: z.number().int().positive().nullable().default(null),
    /** Passes over the training data (used when `steps` is null). */
    epochs: z.number().positive().default(1),
    /** Examples per micro-batch. */
    batchSize: z.number().int().positive().default(8),
    /** Micro-batches per optimizer step (gradients are averaged over their loss tokens). */
    gradAccum: z.number().int().positive().default(1),
    lr: z.number().nonnegative().default(2e-4),
    /** 'adamw', 'sgd', or a factory for another Optimizer (QLoRA's paged AdamW). */
    optimizer: z
      .union([
        z.enum(['adamw', 'sgd']),
        z.custom<OptimizerFactory>((v) => typeof v === 'function', 'expected adamw, sgd or an optimizer factory'),
      ])
      .default('adamw'),
    schedule: z.enum(['constant', 'linear', 'cosine']).default('linear'),
    /** Warmup steps; when null, `warmupRatio · totalSteps` rounded up. */
    warmupSteps: z.number().int().nonnegative().nullable().default(null),
    warmupRatio: z.number().min(0).max(1).default(0),
    /** Decoupled for AdamW (torch.optim.AdamW), L2 added to the gradient for SGD (torch.optim.SGD). */
    weightDecay: z.number().nonnegative().default(0),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]),
    eps: z.number().positive().default(1e-8),
    /** SGD momentum (0: plain SGD). */
    momentum: z.number().min(0).lt(1).default(0),
    /** Global-norm clipping threshold; 0 disables clipping (the norm is still reported). */
    maxGradNorm: z.number().nonnegative().default(1),
    /** Evaluate every N steps (0: only at the end, when eval data is given). */
    evalEvery: z.number().int().nonnegative().default(0),
    evalBatchSize: z.number().int().positive().nullable().default(null),
    /** Write a checkpoint every N steps (0: none; needs an output directory). */
    saveEvery: z.number().int().nonnegative().default(0),
    /** Stop when eval loss has not improved by more than `minDelta` for `patience` evaluations. */
    earlyStopping: z
      .strictObject({ patience: z.number().int().positive().default(3), minDelta: z.number().nonnegative().default(0) })
      .nullable()
      .default(null),
    /** Seeds batch order (per epoch) and dropout. */
    seed: z.number().int().default(42),
    /** Shuffle the training examples each epoch (seeded by seed and epoch). */
    shuffle: z.boolean().default(true),
    /** Call onStep every N steps (the last step is always reported). */
    logEvery: z.number().int().positive().default(1),
  })
  .refine((o) => o.steps !== null || Number.isFinite(o.epochs), { message: 'give steps or epochs' });

export type TrainOptions = z.output<typeof TrainOptionsSchema>;
export type TrainOptionsInput = z.input<typeof TrainOptionsSchema>;

/** Parses user options; bad input is PEFTKIT_E_TRAIN_OPTIONS with every issue listed. */
export function parseTrainOptions(raw: unknown): TrainOptions {
  const result = TrainOptionsSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  const text = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
  throw new PeftkitError('PEFTKIT_E_TRAIN_OPTIONS', `invalid training options: ${text}`, { issues });
}
