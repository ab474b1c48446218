import { PeftkitError } from '@peftkit/core';
import { jobEvent } from './executor.ts';
import { isValidId, newId } from './fs-store.ts';
import { type CreateJobInput, newJob } from './new-job.ts';
import type { FileObject, FileStore, FineTuningJob, JobQueue, JobRecord, JobStore, StoredFile } from './types.ts';
import { TERMINAL } from './types.ts';
import { validateTrainingFile } from './validate.ts';

export type { CreateJobInput } from './new-job.ts';

/** What `ServerOptions.jobs` takes: the store, the queue and the rules; the app composes it. */
export interface JobsOptions {
  store: FileStore & JobStore;
  queue: JobQueue;
  /** Keys allowed to use files and jobs, each a tenant. Unset: any bearer key (or none) is its own tenant. */
  apiKeys?: readonly string[];
  /** Largest uploaded file (default 8 MiB; the server's body limit must allow it). */
  maxFileBytes?: number;
  /** Method plugins a job may name (checked at create); unset: any name, checked by the worker. */
  methods?: () => readonly string[];
}

/** Who calls: a tenant (hash of its key) or the admin, who sees every tenant's objects. */
export interface Caller {
  owner: string;
  admin: boolean;
}

export interface Page<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}

const now = () => Math.floor(Date.now() / 1000);
const notFound = (what: 'file' | 'job', id: string) =>
  new PeftkitError(
    what === 'file' ? 'PEFTKIT_E_FILE_NOT_FOUND' : 'PEFTKIT_E_JOB_NOT_FOUND',
    `no ${what === 'file' ? 'file' : 'fine-tuning job'} '${id}'`,
    {
      [what === 'file' ? 'file' : 'job']: id,
    },
  );
const badState = (message: string, id: string) => new PeftkitError('PEFTKIT_E_JOB_STATE', message, { job: id });

/** OpenAI cursor pagination over a list already in display order: items after the id `after`, at most `limit`. */
export function paginate<T extends { id: string }>(
  items: readonly T[],
  after: string | undefined,
  limit: number,
): Page<T> {
  const start = after === undefined ? 0 : items.findIndex((i) => i.id === after) + 1;
  const data = start === 0 && after !== undefined ? [] : items.slice(start, start + limit);
  return {
    object: 'list',
    data,
    has_more: start + data.length < items.length && data.length > 0,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  };
}

/** The job id inside a model name: `ft:<base>:<suffix>:<job id>[:ckpt-step-N]`, or the adapter name itself. */
export function jobIdOfModel(model: string): { jobId: string; adapter: string } | null {
  if (model.startsWith('ft:')) {
    const parts = model.split(':');
    const at = parts.findIndex((p, i) => i > 0 && /^ftjob-[A-Za-z0-9]+$/.test(p));
    if (at === -1) return null;
    const jobId = parts[at] as string;
    const step = /^ckpt-step-(\d+)$/.exec(parts[at + 1] ?? '');
    if (parts.length > at + (step ? 2 : 1)) return null;
    return { jobId, adapter: step ? `${jobId}.ckpt-step-${step[1]}` : jobId };
  }
  const m = /^(ftjob-[A-Za-z0-9]+)(\.ckpt-step-\d+)?$/.exec(model);
  return m ? { jobId: m[1] as string, adapter: model } : null;
}

/** Files and fine-tuning jobs of every tenant, over the store and the queue. */
export class JobService {
  readonly options: JobsOptions;
  readonly maxFileBytes: number;

  constructor(options: JobsOptions) {
    this.options = options;
    this.maxFileBytes = options.maxFileBytes ?? 8 * 2 ** 20;
  }

  get #store() {
    return this.options.store;
  }

  #visible(owner: string, caller: Caller): boolean {
    return caller.admin || owner === caller.owner;
  }

  async createFile(caller: Caller, filename: string, bytes: Uint8Array): Promise<FileObject> {
    if (bytes.byteLength > this.maxFileBytes) {
      throw new PeftkitError(
        'PEFTKIT_E_FILE_TOO_LARGE',
        `the file has ${bytes.byteLength} bytes; the limit is ${this.maxFileBytes}`,
        {
          bytes: bytes.byteLength,
        },
      );
    }
    const { records, format } = validateTrainingFile(bytes, filename);
    const file: FileObject = {
      id: newId('file'),
      object: 'file',
      bytes: bytes.byteLength,
      created_at: now(),
      filename,
      purpose: 'fine-tune',
      status: 'processed',
      status_details: `${records} ${format} records`,
    };
    await this.#store.putFile({ file, owner: caller.owner, records }, bytes);
    return file;
  }

  async #file(caller: Caller, id: string): Promise<StoredFile> {
    const stored = await this.#store.getFile(id);
    if (stored === null || !this.#visible(stored.owner, caller)) throw notFound('file', id);
    return stored;
  }

  async getFile(caller: Caller, id: string): Promise<FileObject> {
    return (await this.#file(caller, id)).file;
  }

  async fileContent(caller: Caller, id: string): Promise<Uint8Array> {
    await this.#file(caller, id);
    const bytes = await this.#store.fileContent(id);
    if (bytes === null) throw notFound('file', id);
    return bytes;
  }

  async listFiles(
    caller: Caller,
    query: { after?: string; limit?: number; order?: 'asc' | 'desc' },
  ): Promise<Page<FileObject>> {
    const mine = (await this.#store.listFiles()).filter((f) => this.#visible(f.owner, caller)).map((f) => f.file);
    mine.sort((a, b) => b.created_at - a.created_at || b.id.localeCompare(a.id));
    if (query.order === 'asc') mine.reverse();
    return paginate(mine, query.after, query.limit ?? 10_000);
  }

  async deleteFile(caller: Caller, id: string): Promise<{ id: string; object: 'file'; deleted: boolean }> {
    await this.#file(caller, id);
    return { id, object: 'file', deleted: await this.#store.deleteFile(id) };
  }

  async #job(caller: Caller, id: string): Promise<JobRecord> {
    const record = await this.#store.getJob(id);
    if (record === null || !this.#visible(record.owner, caller)) throw notFound('job', id);
    return record;
  }

  async createJob(caller: Caller, input: CreateJobInput, baseModel: string): Promise<FineTuningJob> {
    if (input.model !== baseModel) {
      throw new PeftkitError(
        'PEFTKIT_E_JOB_MODEL',
        `model '${input.model}' is not served here; fine-tune the base '${baseModel}'`,
        { param: 'model' },
      );
    }
    const files = [input.training_file, input.validation_file].filter((f): f is string => typeof f === 'string');
    for (const id of files) {
      const stored = await this.#store.getFile(id);
      if (stored === null || !this.#visible(stored.owner, caller)) {
        throw new PeftkitError('PEFTKIT_E_FILE_NOT_FOUND', `no file '${id}' (upload it with purpose fine-tune first)`, {
          file: id,
        });
      }
    }
    const method = input.peftkit?.method ?? 'lora';
    const known = this.options.methods?.();
    if (known !== undefined && !known.includes(method)) {
      throw new PeftkitError('PEFTKIT_E_JOB_METHOD', `unknown method '${method}' (installed: ${known.join(', ')})`, {
        method,
      });
    }
    const id = newId('ftjob');
    const job = newJob(input, { id, owner: caller.owner, method, createdAt: now() });
    await this.#store.putJob({ job, owner: caller.owner, adapter: id });
    await this.#store.appendEvent(id, jobEvent(`Validating training file: ${input.training_file}`));
    const queued = (await this.#store.updateJob(id, (r) => ({
      ...r,
      job: { ...r.job, status: 'queued' },
    }))) as JobRecord;
    await this.#store.appendEvent(id, jobEvent('Files validated, moving job to queued state'));
    await this.options.queue.enqueue(id);
    return queued.job;
  }

  async listJobs(caller: Caller, query: { after?: string; limit?: number }): Promise<Page<FineTuningJob>> {
    const mine = (await this.#store.listJobs()).filter((r) => this.#visible(r.owner, caller)).map((r) => r.job);
    mine.sort((a, b) => b.created_at - a.created_at || b.id.localeCompare(a.id));
    return paginate(mine, query.after, query.limit ?? 20);
  }

  async getJob(caller: Caller, id: string): Promise<FineTuningJob> {
    return (await this.#job(caller, id)).job;
  }

  /** Cancel or pause: a job no worker holds changes at once; a running one stops after its current step. */
  async stop(caller: Caller, id: string, action: 'cancel' | 'pause'): Promise<FineTuningJob> {
    const record = await this.#job(caller, id);
    const status = record.job.status;
    if (TERMINAL.has(status) || (action === 'pause' && status === 'paused')) {
      throw badState(`cannot ${action} job ${id}: it is ${status}`, id);
    }
    if (status === 'running') {
      await this.#store.requestControl(id, action);
      this.options.queue.interrupt?.(id);
      return record.job;
    }
    const next = action === 'cancel' ? 'cancelled' : 'paused';
    const updated = await this.#store.updateJob(id, (r) =>
      r.job.status === 'running'
        ? null
        : { ...r, job: { ...r.job, status: next, finished_at: next === 'cancelled' ? now() : null } },
    );
    if (updated?.job.status === 'running') {
      // a worker took it meanwhile: ask it
      await this.#store.requestControl(id, action);
      this.options.queue.interrupt?.(id);
    } else {
      await this.#store.appendEvent(
        id,
        jobEvent(next === 'cancelled' ? 'Fine-tuning job cancelled' : 'Fine-tuning job paused'),
      );
    }
    return (updated ?? record).job;
  }

  async resume(caller: Caller, id: string): Promise<FineTuningJob> {
    const record = await this.#job(caller, id);
    if (record.job.status !== 'paused')
      throw badState(`cannot resume job ${id}: it is ${record.job.status}, not paused`, id);
    const updated = (await this.#store.updateJob(id, (r) => ({
      ...r,
      job: { ...r.job, status: 'queued' },
    }))) as JobRecord;
    await this.#store.appendEvent(id, jobEvent('Fine-tuning job resumed'));
    await this.options.queue.enqueue(id);
    return updated.job;
  }

  async events(caller: Caller, id: string, query: { after?: string; limit?: number }) {
    await this.#job(caller, id);
    return paginate((await this.#store.events(id)).reverse(), query.after, query.limit ?? 20);
  }

  async checkpoints(caller: Caller, id: string, query: { after?: string; limit?: number }) {
    await this.#job(caller, id);
    return paginate((await this.#store.checkpoints(id)).reverse(), query.after, query.limit ?? 10);
  }

  /** The adapter a model name selects and whether the caller may use it; null: not a fine-tuned model. */
  async modelAccess(
    caller: Caller,
    model: string,
  ): Promise<{ adapter: string; allowed: boolean; record: JobRecord | null } | null> {
    const parsed = jobIdOfModel(model);
    if (parsed === null || !isValidId(parsed.jobId)) return null;
    const record = await this.#store.getJob(parsed.jobId);
    const allowed =
      record !== null &&
      this.#visible(record.owner, caller) &&
      (parsed.adapter !== parsed.jobId || record.job.status === 'succeeded');
    return { adapter: parsed.adapter, allowed, record };
  }
}
