// The trainer's side of checkpoints: its loop state to a checkpoint and back (the file format is checkpoint.ts).
import type { Variable } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import { disposeSaved } from '../adapter/files.ts';
import type { AdapterManager } from '../adapter/manager.ts';
import type { Tf } from '../runtime/types.ts';
import type { Rng } from '../util/rng.ts';
import type { DataPosition } from './batches.ts';
import { type Checkpoint, readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { fromIndexKeys, toIndexKeys } from './optimizer-keys.ts';
import type { TrainOptions } from './options.ts';
import type { Optimizer } from './types.ts';

/** What the loop carries between steps, and what a checkpoint must restore. */
export interface LoopState {
  step: number;
  position: DataPosition;
  best: number | null;
  bad: number;
  elapsedBefore: number;
}

/** The part of TrainArgs a checkpoint touches (a structural subset, so trainer.ts is not imported back). */
export interface CheckpointTarget {
  readonly tf: Tf;
  readonly manager: AdapterManager;
  readonly adapter: string;
  readonly outDir?: string;
}

/** Options as JSON for the checkpoint: an optimizer factory is recorded by the kind it builds. */
function serializableOptions(options: TrainOptions, optimizer: Optimizer): Record<string, unknown> {
  return { ...options, optimizer: typeof options.optimizer === 'function' ? optimizer.kind : options.optimizer };
}

export async function saveCheckpoint(
  args: CheckpointTarget,
  method: string,
  variables: readonly Variable[],
  optimizer: Optimizer,
  rng: Rng,
  state: LoopState,
  totalSteps: number,
  options: TrainOptions,
  elapsed: number,
): Promise<string> {
  const saved = args.manager.saveCheckpoint(args.adapter);
  try {
    const optimizerState = toIndexKeys(optimizer.state(), variables);
    const checkpoint: Checkpoint = {
      adapter: saved,
      optimizer: optimizerState,
      state: {
        format: 'peftkit-trainer-state',
        version: 1,
        step: state.step,
        totalSteps,
        epoch: state.position.epoch,
        cursor: state.position.cursor,
        permutationSeed: options.seed >>> 0,
        rng: rng.getState(),
        optimizer: { kind: optimizerState.kind, scalars: { ...optimizerState.scalars } },
        earlyStopping: { best: state.best, bad: state.bad },
        method,
        adapterFiles: saved.files ?? { config: 'adapter_config.json', weights: 'adapter_model.safetensors' },
        options: serializableOptions(options, optimizer),
        elapsed,
      },
    };
    return await writeCheckpoint(args.outDir as string, checkpoint);
  } finally {
    disposeSaved(saved);
  }
}

export async function restore(
  args: CheckpointTarget,
  dir: string,
  totalSteps: number,
  optimizer: Optimizer,
  rng: Rng,
  state: LoopState,
): Promise<void> {
  const checkpoint = await readCheckpoint(args.tf, dir);
  try {
    const s = checkpoint.state;
    if (s.totalSteps !== totalSteps) {
      throw new PeftkitError(
        'PEFTKIT_E_CHECKPOINT',
        `checkpoint '${dir}' was for ${s.totalSteps} steps, these options give ${totalSteps}`,
        {
          dir,
          checkpoint: s.totalSteps,
          options: totalSteps,
        },
      );
    }
    if (args.manager.has(args.adapter)) {
      // Check before the adapter is replaced: the checkpoint must be of the same method and its optimizer state must
      // fit the adapter's variables (same count and shapes), or the run being resumed is a different one.
      const current = args.manager.get(args.adapter);
      if (current.plugin.meta.name !== s.method) {
        throw new PeftkitError(
          'PEFTKIT_E_CHECKPOINT',
          `checkpoint '${dir}' is a ${s.method} adapter; '${args.adapter}' is ${current.plugin.meta.name}`,
          {
            dir,
            method: s.method,
          },
        );
      }
      fromIndexKeys(checkpoint.optimizer, current.handle.trainableVariables);
      args.manager.delete(args.adapter);
    }
    args.manager.load(args.adapter, checkpoint.adapter, { method: s.method });
    optimizer.loadState(fromIndexKeys(checkpoint.optimizer, args.manager.trainableVariables(args.adapter)));
    rng.setState(s.rng);
    state.step = s.step;
    state.position = { epoch: s.epoch, cursor: s.cursor };
    state.best = s.earlyStopping.best;
    state.bad = s.earlyStopping.bad;
    state.elapsedBefore = s.elapsed;
  } finally {
    disposeSaved(checkpoint.adapter);
  }
}
