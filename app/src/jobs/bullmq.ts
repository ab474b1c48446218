import { Queue, Worker } from 'bullmq';
import { PeftkitError } from '@peftkit/io';
import { executeJob, type FileStore, type JobQueue, type JobRunner, type JobStore } from '@peftkit/server';

/** BullMQ queue of job ids; the records themselves live in the shared store. */
export const QUEUE_NAME = 'peftkit-fine-tuning';
/** Channel on which workers announce a new adapter version (every replica hot-loads it). */
export const ADAPTER_CHANNEL = 'peftkit:adapters';

type Store = FileStore & JobStore;

/** The ioredis calls used here (BullMQ's client is an ioredis instance; its own type names fewer methods). */
interface RedisClient {
  ping(): Promise<string>;
  subscribe(channel: string): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  duplicate(): RedisClient;
  quit(): Promise<unknown>;
}

const clientOf = async (queue: Queue) => (await queue.client) as unknown as RedisClient;

function connection(url: string) {
  // BullMQ's workers block on Redis: ioredis must retry forever instead of failing a command after 20 tries
  return { url, maxRetriesPerRequest: null };
}

async function reachable(queue: Queue, url: string): Promise<void> {
  try {
    await (await clientOf(queue)).ping();
  } catch (error) {
    await queue.close().catch(() => undefined);
    throw new PeftkitError('PEFTKIT_E_JOB_QUEUE', `cannot reach Redis at ${url}: ${(error as Error).message}`, { url });
  }
}

/** `add` with a fresh BullMQ id each time, so a resumed or re-enqueued job is never dropped as a duplicate. */
function add(queue: Queue, jobId: string) {
  return queue.add('train', { jobId }, { removeOnComplete: 1000, removeOnFail: 1000, attempts: 1 });
}

/** The server side: enqueue on BullMQ, and hot-load adapters that any worker announces. */
export async function connectRedisJobs(options: {
  url: string;
  store: Store;
  onAdapter(name: string): Promise<void>;
}): Promise<{ queue: JobQueue; close(): Promise<void> }> {
  const queue = new Queue(QUEUE_NAME, { connection: connection(options.url) });
  await reachable(queue, options.url);
  const subscriber = (await clientOf(queue)).duplicate();
  await subscriber.subscribe(ADAPTER_CHANNEL);
  subscriber.on('message', (channel: string, message: string) => {
    if (channel !== ADAPTER_CHANNEL) return;
    options
      .onAdapter(message)
      .catch((error: unknown) => console.error(`peftkit serve: hot load of ${message} failed:`, error));
  });
  return {
    queue: {
      async enqueue(jobId) {
        await add(queue, jobId);
      },
      // a running job sees the store's cancel/pause request at its next step, on whatever worker runs it
      close: async () => undefined,
    },
    async close() {
      await subscriber.quit().catch(() => undefined);
      await queue.close();
    },
  };
}

export interface RedisWorkerOptions {
  url: string;
  store: Store;
  runner: JobRunner;
  /** How long a job stays locked to a worker that stopped renewing it (killed): then another worker takes it. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  log?(line: string): void;
}

/**
 * A worker process: takes job ids from BullMQ one at a time and runs them through the executor. A worker killed
 * mid-job stops renewing its lock; BullMQ's stalled-job check hands the job to another worker, whose executor
 * finds it `running` and continues from the latest checkpoint in the shared store.
 */
export async function startRedisWorker(
  options: RedisWorkerOptions,
): Promise<{ close(): Promise<void>; done: Promise<void> }> {
  const queue = new Queue(QUEUE_NAME, { connection: connection(options.url) });
  await reachable(queue, options.url);
  const publisher = (await clientOf(queue)).duplicate();
  const shutdown = new AbortController();
  const log = options.log ?? (() => {});
  const worker = new Worker<{ jobId: string }>(
    QUEUE_NAME,
    async (job) => {
      const { jobId } = job.data;
      log(`job ${jobId}: started`);
      const record = await executeJob(jobId, {
        store: options.store,
        runner: options.runner,
        signal: shutdown.signal,
        onSucceeded: async (r) => {
          await publisher.publish(ADAPTER_CHANNEL, r.adapter);
        },
      });
      // stopped by our own shutdown: hand it back so another worker continues from the checkpoint
      if (record?.job.status === 'running') await add(queue, jobId);
      log(`job ${jobId}: ${record?.job.status ?? 'missing'}`);
    },
    {
      connection: connection(options.url),
      concurrency: 1,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      maxStalledCount: 100, // a stall is a dead worker, not a bad job: the job resumes from its checkpoint
    },
  );
  worker.on('error', (error) => log(`worker error: ${error.message}`));
  let closing: Promise<void> | null = null;
  const done = new Promise<void>((resolve) => worker.on('closed', () => resolve()));
  return {
    done,
    close() {
      closing ??= (async () => {
        shutdown.abort();
        await worker.close();
        await publisher.quit().catch(() => undefined);
        await queue.close();
      })();
      return closing;
    },
  };
}
