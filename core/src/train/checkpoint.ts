import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { decodeAdapter, encodeAdapter } from '../adapter/files.ts';
import { PeftkitError } from '@peftkit/io';
import { atomicWriteFile } from '@peftkit/io';
import { decodeTensor, parseSafetensors, serializeSafetensors } from '@peftkit/io';
import type { SavedAdapter } from '../plugin/contract.ts';
import type { Tf } from '../runtime/types.ts';
import type { OptimizerState } from './types.ts';

export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const CHECKPOINT_DIR = /^checkpoint-(\d+)$/;

const TrainerStateSchema = z.object({
  format: z.literal('peftkit-trainer-state'),
  version: z.literal(1),
  step: z.number().int().nonnegative(),
  totalSteps: z.number().int().positive(),
  epoch: z.number().int().nonnegative(),
  cursor: z.number().int().nonnegative(),
  /**
   * Seed of the epoch permutations: the current one is epochOrder(examples, permutationSeed, epoch) (data/split.ts).
   */
  permutationSeed: z.number().int().nonnegative(),
  /** Dropout generator state (xoshiro128** words). */
  rng: z.array(z.number().int().nonnegative()).length(4),
  optimizer: z.object({ kind: z.string(), scalars: z.record(z.string(), z.number()) }),
  earlyStopping: z.object({ best: z.number().nullable(), bad: z.number().int().nonnegative() }),
  method: z.string(),
  adapterFiles: z.object({ config: z.string().min(1), weights: z.string().min(1) }),
  /** Training options as given (the optimizer factory, if any, recorded by kind). */
  options: z.record(z.string(), z.unknown()),
  elapsed: z.number().nonnegative(),
});

export type TrainerState = z.output<typeof TrainerStateSchema>;

export interface Checkpoint {
  readonly state: TrainerState;
  /** Adapter in its method's format; tensors owned by the caller. */
  readonly adapter: SavedAdapter;
  /** Optimizer slots keyed `${variableIndex}/${slot}` (variable names are not stable across processes). */
  readonly optimizer: OptimizerState;
}

function checkpointError(dir: string, message: string, cause?: unknown): PeftkitError {
  return new PeftkitError(
    'PEFTKIT_E_CHECKPOINT',
    `checkpoint '${dir}': ${message}`,
    { dir },
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Writes `<outDir>/checkpoint-<step>/` atomically: every file goes into a hidden temporary directory first, which is
 * renamed into place only when complete, so a killed run leaves its previous checkpoints intact and never a torn one.
 */
export async function writeCheckpoint(outDir: string, checkpoint: Checkpoint): Promise<string> {
  const final = join(outDir, `checkpoint-${checkpoint.state.step}`);
  const temp = join(outDir, `.checkpoint-${checkpoint.state.step}.${randomUUID()}.tmp`);
  const files = checkpoint.state.adapterFiles;
  const { config, weights } = encodeAdapter(checkpoint.adapter);
  const slots = new Map(
    [...checkpoint.optimizer.slots].map(([key, s]) => [
      key,
      { dtype: 'F32' as const, shape: [...s.shape], data: s.values },
    ]),
  );
  const text = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
  try {
    await mkdir(temp, { recursive: true });
    await atomicWriteFile(join(temp, files.weights), weights);
    await atomicWriteFile(join(temp, files.config), new TextEncoder().encode(config));
    await atomicWriteFile(join(temp, OPTIMIZER_FILE), serializeSafetensors(slots, { format: 'pt' }));
    await atomicWriteFile(join(temp, TRAINER_STATE_FILE), text(checkpoint.state));
    // A resumed run may save a step that exists already: move the old one aside, then swap.
    const old = `${temp}.old`;
    const hadOld = await isDir(final);
    if (hadOld) await rename(final, old);
    await rename(temp, final);
    if (hadOld) await rm(old, { recursive: true, force: true });
  } catch (error) {
    await rm(temp, { recursive: true, force: true }).catch(() => undefined);
    if (error instanceof PeftkitError) throw error;
    throw new PeftkitError(
      'PEFTKIT_E_IO_WRITE',
      `cannot write checkpoint ${final}: ${String(error)}`,
      { path: final },
      { cause: error },
    );
  }
  return final;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Reads and validates a checkpoint directory written by writeCheckpoint. */
export async function readCheckpoint(tf: Tf, dir: string): Promise<Checkpoint> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(dir, TRAINER_STATE_FILE), 'utf8'));
  } catch (error) {
    throw checkpointError(dir, `cannot read ${TRAINER_STATE_FILE}: ${(error as Error).message}`, error);
  }
  const parsed = TrainerStateSchema.safeParse(raw);
  if (!parsed.success)
    throw checkpointError(
      dir,
      `invalid ${TRAINER_STATE_FILE}: ` +
        `${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const state = parsed.data;
  let configText: string;
  let weights: Uint8Array;
  let optimizerBytes: Uint8Array;
  try {
    configText = await readFile(join(dir, state.adapterFiles.config), 'utf8');
    weights = new Uint8Array(await readFile(join(dir, state.adapterFiles.weights)));
    optimizerBytes = new Uint8Array(await readFile(join(dir, OPTIMIZER_FILE)));
  } catch (error) {
    throw checkpointError(dir, `missing file: ${(error as Error).message}`, error);
  }
  const slots = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [key, entry] of parseSafetensors(optimizerBytes).tensors) {
    const decoded = decodeTensor(entry);
    if (!(decoded.values instanceof Float32Array)) throw checkpointError(dir, `optimizer slot '${key}' is not float32`);
    slots.set(key, { shape: [...decoded.shape], values: decoded.values });
  }
  const adapter = decodeAdapter(tf, configText, weights, state.adapterFiles);
  return { state, adapter, optimizer: { kind: state.optimizer.kind, scalars: state.optimizer.scalars, slots } };
}

/** The complete checkpoint with the highest step under `outDir`, or null when there is none. */
export async function latestCheckpoint(outDir: string): Promise<string | null> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return null;
  }
  const steps = names
    .map((n) => CHECKPOINT_DIR.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
  for (const step of steps) {
    const dir = join(outDir, `checkpoint-${step}`);
    if (
      await stat(join(dir, TRAINER_STATE_FILE)).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return dir;
  }
  return null;
}
