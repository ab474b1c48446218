import { PeftkitError } from '@peftkit/core';
import { newId } from './fs-store.ts';
import type { FileStore, FineTuningJob, JobEvent, JobRecord, JobRunner, JobStore } from './types.ts';
import { TERMINAL } from './types.ts';

const now = () => Math.floor(Date.now() / 1000);

export function jobEvent(
  message: string,
  level: JobEvent['level'] = 'info',
  data: Record<string, unknown> | null = null,
): JobEvent {
  return {
    id: newId('ftevent'),
    object: 'fine_tuning.job.event',
    created_at: now(),
    level,
    message,
    type: data && 'step' in data ? 'metrics' : 'message',
    data,
  };
}

/** `ft:<base>:<suffix>:<job id>` (OpenAI's shape without the organization); checkpoints add `:ckpt-step-<n>`. */
export function fineTunedName(
  job: Pick<FineTuningJob, 'model' | 'user_provided_suffix' | 'id'>,
  step?: number,
): string {
  const name = `ft:${job.model}:${job.user_provided_suffix ?? ''}:${job.id}`;
  return step === undefined ? name : `${name}:ckpt-step-${step}`;
}

export interface ExecuteOptions {
  store: JobStore & FileStore;
  runner: JobRunner;
  /** Aborted when this process shuts down: the job stays `running` and the next worker resumes it. */
  signal?: AbortSignal;
  /** Called once the final adapter is in the adapter root (hot load on every replica). */
  onSucceeded?(record: JobRecord): Promise<void> | void;
  /** How often (in steps) cancel/pause requests are read from the store; every step by default. */
  controlEvery?: number;
}

/** The error a failed job shows: OpenAI's `{code, message, param}` with the PEFTKIT_E_ code. */
function jobError(error: unknown): { code: string; message: string; param: string | null } {
  if (error instanceof PeftkitError) {
    const message = error.message.startsWith(`${error.code}: `)
      ? error.message.slice(error.code.length + 2)
      : error.message;
    return { code: error.code, message, param: null };
  }
  return { code: 'PEFTKIT_E_INTERNAL', message: error instanceof Error ? error.message : String(error), param: null };
}

/**
 * Runs one job through the runner, whoever calls it (the embedded queue or a BullMQ worker): marks it running,
 * relays progress, checkpoints and events to the store, stops within one step on cancel/pause, and records the
 * outcome. A job found `running` was left by a dead worker: it continues from its latest checkpoint.
 */
export async function executeJob(jobId: string, options: ExecuteOptions): Promise<JobRecord | null> {
  const { store, runner } = options;
  const found = await store.getJob(jobId);
  if (found === null || TERMINAL.has(found.job.status) || found.job.status === 'paused') return found;
  const resumed = found.job.status === 'running';
  let record = (await store.updateJob(jobId, (r) => ({ ...r, job: { ...r.job, status: 'running' } }))) as JobRecord;
  await store.appendEvent(
    jobId,
    jobEvent(resumed ? 'Fine-tuning job resumed by a new worker' : 'Fine-tuning job started'),
  );
  const abort = new AbortController();
  const onOuter = () => abort.abort();
  options.signal?.addEventListener('abort', onOuter, { once: true });
  let requested: 'cancel' | 'pause' | null = null;
  const poll = async () => {
    requested ??= await store.control(jobId);
    if (requested !== null) abort.abort();
  };
  // a request made before the worker picked the job up
  await poll();
  let lastLoss: number | null = null;
  let lastValid: number | undefined;
  const every = options.controlEvery ?? 1;
  try {
    const training = store.filePath(record.job.training_file);
    const validation = record.job.validation_file === null ? null : store.filePath(record.job.validation_file);
    const result = await runner.run({
      job: record.job,
      trainingFile: training,
      validationFile: validation,
      workDir: store.workDir(jobId),
      adapter: record.adapter,
      signal: abort.signal,
      progress: async (e) => {
        lastLoss = e.loss;
        await store.appendEvent(
          jobId,
          jobEvent(`Step ${e.step}/${e.totalSteps}: training loss=${e.loss.toFixed(4)}`, 'info', { ...e }),
        );
        if (e.step === 1 || e.step % 5 === 0) {
          await store.updateJob(jobId, (r) => ({
            ...r,
            job: { ...r.job, peftkit: { ...r.job.peftkit, step: e.step, total_steps: e.totalSteps } },
          }));
        }
        if (e.step % every === 0) await poll();
      },
      eval: async (e) => {
        lastValid = e.loss;
        await store.appendEvent(
          jobId,
          jobEvent(`Step ${e.step}: validation loss=${e.loss.toFixed(4)}`, 'info', {
            step: e.step,
            valid_loss: e.loss,
          }),
        );
      },
      checkpoint: async (e) => {
        if (e.name === null) return;
        await store.appendCheckpoint(jobId, {
          id: newId('ftckpt'),
          object: 'fine_tuning.job.checkpoint',
          created_at: now(),
          fine_tuned_model_checkpoint: fineTunedName(record.job, e.step),
          fine_tuning_job_id: jobId,
          step_number: e.step,
          metrics: {
            step: e.step,
            ...(e.loss === null ? {} : { train_loss: e.loss }),
            ...(lastValid === undefined ? {} : { valid_loss: lastValid }),
          },
        });
        await store.appendEvent(jobId, jobEvent(`Checkpoint at step ${e.step}`, 'info', null));
      },
      message: (text, data) => store.appendEvent(jobId, jobEvent(text, 'info', data ?? null)),
    });
    if (!result.completed) {
      requested ??= await store.control(jobId); // an interrupt() lands before the poll reads the request
      if (requested === null) return record; // shutdown: left running for the next worker
      const status = requested === 'cancel' ? 'cancelled' : 'paused';
      record = (await store.updateJob(jobId, (r) => ({
        ...r,
        job: {
          ...r.job,
          status,
          finished_at: status === 'cancelled' ? now() : null,
          peftkit: { ...r.job.peftkit, step: result.step },
        },
      }))) as JobRecord;
      await store.requestControl(jobId, null);
      await store.appendEvent(
        jobId,
        jobEvent(
          status === 'cancelled' ? 'Fine-tuning job cancelled' : `Fine-tuning job paused at step ${result.step}`,
        ),
      );
      return record;
    }
    const succeed = (r: JobRecord): JobRecord => ({
      ...r,
      job: {
        ...r.job,
        status: 'succeeded',
        finished_at: now(),
        fine_tuned_model: fineTunedName(r.job),
        trained_tokens: result.trainedTokens,
        peftkit: { ...r.job.peftkit, step: result.step, total_steps: result.totalSteps },
      },
    });
    // Hot-load first, then say 'succeeded': a client that sees the status may use the model at once.
    await options.onSucceeded?.(succeed(record));
    record = (await store.updateJob(jobId, succeed)) as JobRecord;
    const loss = lastLoss === null ? '' : ` (final training loss ${(lastLoss as number).toFixed(4)})`;
    await store.appendEvent(jobId, jobEvent(`The job has successfully completed${loss}`));
    return record;
  } catch (error) {
    const e = jobError(error);
    record = (await store.updateJob(jobId, (r) => ({
      ...r,
      job: { ...r.job, status: 'failed', finished_at: now(), error: e },
    }))) as JobRecord;
    await store.appendEvent(
      jobId,
      jobEvent(`Fine-tuning job failed: ${e.code}: ${e.message}`, 'error', { code: e.code }),
    );
    return record;
  } finally {
    options.signal?.removeEventListener('abort', onOuter);
  }
}
