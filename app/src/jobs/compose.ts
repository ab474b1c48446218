import { EmbeddedQueue, type Engine, FsStore, type JobQueue, type JobRecord, type JobsOptions } from '@peftkit/server';
import { type ComposedRunner, createJobRunner } from './runner.ts';

export interface JobsSettings {
  /** The store directory (files, job records, checkpoints), shared by every replica and worker. */
  store: string;
  /** BullMQ on this Redis instead of the embedded queue (`redis://host:port`). */
  redis?: string;
  /** Tenant keys (PEFTKIT_API_KEYS, comma-separated); unset: any bearer key is its own tenant. */
  apiKeys?: readonly string[];
  /** Largest upload in bytes. */
  maxFileBytes?: number;
}

export interface ComposedJobs {
  options: JobsOptions;
  close(): Promise<void>;
}

interface EngineSide {
  modelDir: string;
  adapterRoot: string;
  backend?: string;
  plugins?: readonly string[];
}

/** The served engine learns of a finished adapter at once (hot load), then serves it by its fine-tuned name. */
export function hotLoad(engine: Engine): (record: JobRecord) => Promise<void> {
  return async (record) => {
    await engine.loadAdapter(record.adapter, { replace: true }).catch((error: unknown) => {
      // the adapter is on disk: a later request loads it lazily, so a failed eager load is only logged
      console.error(`peftkit jobs: hot load of ${record.adapter} failed:`, error);
    });
  };
}

/**
 * Files and fine-tuning jobs for `peftkit serve --store <dir>`: the shared-filesystem store, and either the
 * embedded queue with an in-process runner (default) or BullMQ on Redis (`--redis`, trained by `peftkit worker`).
 */
export async function composeJobs(settings: JobsSettings, engine: Engine, side: EngineSide): Promise<ComposedJobs> {
  const store = await FsStore.open(settings.store);
  const base: Omit<JobsOptions, 'queue'> = {
    store,
    ...(settings.apiKeys ? { apiKeys: settings.apiKeys } : {}),
    ...(settings.maxFileBytes ? { maxFileBytes: settings.maxFileBytes } : {}),
  };
  if (settings.redis !== undefined) {
    // imported only when asked for: the embedded default needs no Redis client installed
    const { connectRedisJobs } = await import('./bullmq.ts');
    const redis = await connectRedisJobs({
      url: settings.redis,
      store,
      onAdapter: (name) => engine.loadAdapter(name, { replace: true }).then(() => undefined),
    });
    return { options: { ...base, queue: redis.queue }, close: () => redis.close() };
  }
  const runner: ComposedRunner = await createJobRunner({
    modelDir: side.modelDir,
    adapterRoot: side.adapterRoot,
    ...(side.backend ? { backend: side.backend } : {}),
    ...(side.plugins ? { plugins: side.plugins } : {}),
  });
  const queue: JobQueue & { recover(): Promise<number> } = new EmbeddedQueue({
    store,
    runner,
    onSucceeded: hotLoad(engine),
  });
  await queue.recover();
  return {
    options: { ...base, queue, methods: () => runner.methods() },
    async close() {
      await queue.close();
      await runner.close();
    },
  };
}
