import { type ExecuteOptions, executeJob } from './executor.ts';
import type { JobQueue } from './types.ts';

/**
 * The default queue: jobs run one at a time inside this process, in the order they were enqueued. Nothing to
 * install; the records live in the store, so `recover()` after a restart re-enqueues what was queued or running
 * (a running job continues from its latest checkpoint).
 */
export class EmbeddedQueue implements JobQueue {
  readonly #pending: string[] = [];
  readonly #options: Omit<ExecuteOptions, 'signal'>;
  readonly #shutdown = new AbortController();
  #current: { id: string; abort: AbortController } | null = null;
  #loop: Promise<void> | null = null;
  #closed = false;

  constructor(options: Omit<ExecuteOptions, 'signal'>) {
    this.#options = options;
  }

  /** Re-enqueues the store's unfinished jobs, oldest first. */
  async recover(): Promise<number> {
    const jobs = await this.#options.store.listJobs();
    const open = jobs
      .filter((r) => r.job.status === 'queued' || r.job.status === 'running' || r.job.status === 'validating_files')
      .sort((a, b) => a.job.created_at - b.job.created_at || a.job.id.localeCompare(b.job.id));
    for (const r of open) await this.enqueue(r.job.id);
    return open.length;
  }

  async enqueue(jobId: string): Promise<void> {
    if (this.#closed || this.#pending.includes(jobId) || this.#current?.id === jobId) return;
    this.#pending.push(jobId);
    this.#loop ??= this.#drain().finally(() => {
      this.#loop = null;
    });
  }

  interrupt(jobId: string): void {
    if (this.#current?.id === jobId) this.#current.abort.abort();
  }

  /** Resolves when nothing is queued or running (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.#loop !== null) await this.#loop;
  }

  async #drain(): Promise<void> {
    for (let id = this.#pending.shift(); id !== undefined && !this.#closed; id = this.#pending.shift()) {
      const abort = new AbortController();
      const onShutdown = () => abort.abort();
      this.#shutdown.signal.addEventListener('abort', onShutdown, { once: true });
      this.#current = { id, abort };
      try {
        await executeJob(id, { ...this.#options, signal: abort.signal });
      } catch (error) {
        // the store failed under us: the job stays as it was and a restart retries it
        console.error(`peftkit jobs: job ${id} could not run:`, error);
      } finally {
        this.#shutdown.signal.removeEventListener('abort', onShutdown);
        this.#current = null;
      }
    }
  }

  /** Stops the running job after its current step (it stays `running`, resumed on restart). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#shutdown.abort();
    await this.#loop;
  }
}
