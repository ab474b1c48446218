// Public entry of @peftkit/core/train: the training loop and its building blocks.
export * from './types.ts';
export { train, type TrainArgs, type TrainResult } from './trainer.ts';
export { parseTrainOptions, TrainOptionsSchema, type TrainOptions, type TrainOptionsInput } from './options.ts';
export { AdamW, Sgd, createOptimizer, type OptimizerFactory, type OptimizerSettings } from './optimizers.ts';
export { scheduleFactor, warmupStepsFor, type ScheduleKind } from './schedule.ts';
export { clipByGlobalNorm } from './clip.ts';
export { batchLossSum, type TrainableModel } from './loss.ts';
export { evaluate, type EvaluateOptions, type EvaluationResult } from './evaluate.ts';
export { BatchStream, stepsForEpochs, type DataPosition } from './batches.ts';
export {
  latestCheckpoint,
  readCheckpoint,
  writeCheckpoint,
  OPTIMIZER_FILE,
  TRAINER_STATE_FILE,
  type Checkpoint,
  type TrainerState,
} from './checkpoint.ts';
export { collate } from './collate.ts';
export { epochOrder, type SplitOptions, shuffled, splitTrainEval } from './split.ts';
