import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PeftkitError } from '@peftkit/core';
import { atomicWriteFile } from '@peftkit/io';
import type { ControlAction, FileStore, JobCheckpoint, JobEvent, JobRecord, JobStore, StoredFile } from './types.ts';

const ID = /^[a-z]+-[A-Za-z0-9]{8,64}$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `<prefix>-<24 random base62 characters>` (OpenAI's ids look alike: file-…, ftjob-…). */
export function newId(prefix: string): string {
  const bytes = randomBytes(24);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return `${prefix}-${out}`;
}

/** Ids become file names: anything else is refused before it reaches a path. */
export function isValidId(id: string): boolean {
  return ID.test(id);
}

const encode = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value)}\n`);

async function readJson<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PeftkitError('PEFTKIT_E_JOB_STORE', `cannot read ${path}: ${(error as Error).message}`, { path });
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new PeftkitError('PEFTKIT_E_JOB_STORE', `the store file ${path} is not valid JSON`, { path });
  }
}

async function readLines<T>(path: string): Promise<T[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // a line torn by a crash mid-append is skipped, the others stay readable
    }
  }
  return out;
}

/**
 * Files and jobs in a directory that every server replica and worker mounts (a shared filesystem):
 * `files/<id>.json|.data`, `jobs/<id>.json`, `jobs/<id>.events.jsonl`, `jobs/<id>.checkpoints.jsonl`,
 * `jobs/<id>.control`, `jobs/<id>/` (checkpoints). Records are replaced atomically (write, fsync, rename), so a
 * crash leaves the old or the new record, never a torn one.
 */
export class FsStore implements FileStore, JobStore {
  readonly root: string;
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(root: string) {
    this.root = resolve(root);
  }

  static async open(root: string): Promise<FsStore> {
    const store = new FsStore(root);
    await mkdir(join(store.root, 'files'), { recursive: true });
    await mkdir(join(store.root, 'jobs'), { recursive: true });
    return store;
  }

  #path(kind: 'files' | 'jobs', id: string, suffix: string): string {
    if (!isValidId(id)) throw new PeftkitError('PEFTKIT_E_JOB_STORE', `invalid id '${id}'`, { id });
    return join(this.root, kind, `${id}${suffix}`);
  }

  async putFile(record: StoredFile, bytes: Uint8Array): Promise<void> {
    // content first: a record never points at missing content
    await atomicWriteFile(this.#path('files', record.file.id, '.data'), bytes);
    await atomicWriteFile(this.#path('files', record.file.id, '.json'), encode(record));
  }

  getFile(id: string): Promise<StoredFile | null> {
    if (!isValidId(id)) return Promise.resolve(null);
    return readJson<StoredFile>(this.#path('files', id, '.json'));
  }

  async fileContent(id: string): Promise<Uint8Array | null> {
    if (!isValidId(id)) return null;
    return readFile(this.#path('files', id, '.data')).then(
      (b) => new Uint8Array(b),
      () => null,
    );
  }

  filePath(id: string): string {
    return this.#path('files', id, '.data');
  }

  async listFiles(): Promise<StoredFile[]> {
    return this.#list<StoredFile>('files');
  }

  async deleteFile(id: string): Promise<boolean> {
    if ((await this.getFile(id)) === null) return false;
    await rm(this.#path('files', id, '.json'), { force: true });
    await rm(this.#path('files', id, '.data'), { force: true });
    return true;
  }

  async #list<T>(kind: 'files' | 'jobs'): Promise<T[]> {
    const names = await readdir(join(this.root, kind)).catch(() => [] as string[]);
    const ids = names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5));
    const records = await Promise.all(
      ids.filter(isValidId).map((id) => readJson<T>(join(this.root, kind, `${id}.json`))),
    );
    return records.filter((r): r is Awaited<T> => r !== null) as T[];
  }

  async putJob(record: JobRecord): Promise<void> {
    await atomicWriteFile(this.#path('jobs', record.job.id, '.json'), encode(record));
  }

  getJob(id: string): Promise<JobRecord | null> {
    if (!isValidId(id)) return Promise.resolve(null);
    return readJson<JobRecord>(this.#path('jobs', id, '.json'));
  }

  listJobs(): Promise<JobRecord[]> {
    return this.#list<JobRecord>('jobs');
  }

  updateJob(id: string, change: (record: JobRecord) => JobRecord | null): Promise<JobRecord | null> {
    // Serialized per job within this process; across processes the worker running a job is its only writer,
    // except for transitions of jobs no worker holds (queued/paused), which the API makes.
    const run = async () => {
      const current = await this.getJob(id);
      if (current === null) return null;
      const next = change(current);
      if (next === null) return current;
      await this.putJob(next);
      return next;
    };
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const result = previous.then(run, run);
    const tail = result.catch(() => undefined);
    this.#locks.set(id, tail);
    void tail.then(() => {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    });
    return result;
  }

  async appendEvent(id: string, event: JobEvent): Promise<void> {
    await appendFile(this.#path('jobs', id, '.events.jsonl'), `${JSON.stringify(event)}\n`);
  }

  events(id: string): Promise<JobEvent[]> {
    return readLines<JobEvent>(this.#path('jobs', id, '.events.jsonl'));
  }

  async appendCheckpoint(id: string, checkpoint: JobCheckpoint): Promise<void> {
    await appendFile(this.#path('jobs', id, '.checkpoints.jsonl'), `${JSON.stringify(checkpoint)}\n`);
  }

  checkpoints(id: string): Promise<JobCheckpoint[]> {
    return readLines<JobCheckpoint>(this.#path('jobs', id, '.checkpoints.jsonl'));
  }

  async requestControl(id: string, action: ControlAction | null): Promise<void> {
    const path = this.#path('jobs', id, '.control');
    if (action === null) await rm(path, { force: true });
    else await atomicWriteFile(path, encode({ action }));
  }

  async control(id: string): Promise<ControlAction | null> {
    const value = await readJson<{ action: ControlAction }>(this.#path('jobs', id, '.control')).catch(() => null);
    return value?.action ?? null;
  }

  workDir(id: string): string {
    return this.#path('jobs', id, '');
  }
}
