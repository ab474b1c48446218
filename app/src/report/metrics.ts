import { open, readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PeftkitError } from '@peftkit/io';
import type { EvalEvent, SaveEvent, StepEvent, TrainCallbacks } from '@peftkit/core/train';

/** Stable error codes of the metrics log. */
export const METRICS_ERROR_CODES = {
  /** The log cannot be opened, written or read. */
  IO: 'PEFTKIT_E_METRICS_IO',
  /** A line is not JSON or not a valid record. */
  INVALID: 'PEFTKIT_E_METRICS_INVALID',
  /** Written after close. */
  CLOSED: 'PEFTKIT_E_METRICS_CLOSED',
} as const;

/** One line of metrics.jsonl: the event, its `type` and an ISO-8601 `time`. */
export type MetricsRecord =
  | ({ readonly type: 'step'; readonly time: string } & StepEvent)
  | ({ readonly type: 'eval'; readonly time: string } & EvalEvent)
  | ({ readonly type: 'save'; readonly time: string } & SaveEvent);

// JSON has no NaN/Infinity: the writer stores them as null, the reader gives NaN back.
const real = z.union([z.number(), z.null()]).transform((v) => (v === null ? Number.NaN : v));
const count = z.number().int().min(0);
const time = z.iso.datetime({ offset: true });
const recordSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('step'),
    time,
    step: count,
    totalSteps: count,
    epoch: z.number().min(0),
    loss: real,
    lr: real,
    gradNorm: real,
    tokens: count,
    elapsed: z.number().min(0),
  }),
  z.object({
    type: z.literal('eval'),
    time,
    step: count,
    loss: real,
    perplexity: real,
    accuracy: real.optional(),
    examples: count,
  }),
  z.object({ type: z.literal('save'), time, step: count, dir: z.string() }),
]);

/**
 * Validates metrics.jsonl text. Unknown keys are dropped (newer writers may add fields); a malformed line is
 * PEFTKIT_E_METRICS_INVALID naming it, except a malformed *last* line without a final newline, which is what a
 * killed run leaves behind and is skipped.
 */
export function parseMetricsLog(text: string, file = 'metrics.jsonl'): MetricsRecord[] {
  const lines = text.split('\n');
  const records: MetricsRecord[] = [];
  for (const [k, raw] of lines.entries()) {
    if (raw.trim() === '') continue;
    const torn = k === lines.length - 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (cause) {
      if (torn) break;
      throw new PeftkitError(
        METRICS_ERROR_CODES.INVALID,
        `${file}:${k + 1}: not valid JSON`,
        { file, line: k + 1 },
        { cause },
      );
    }
    const parsed = recordSchema.safeParse(value);
    if (!parsed.success) {
      if (torn) break;
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      throw new PeftkitError(METRICS_ERROR_CODES.INVALID, `${file}:${k + 1}: invalid metrics record (${issues})`, {
        file,
        line: k + 1,
      });
    }
    records.push(parsed.data as MetricsRecord);
  }
  return records;
}

export async function readMetricsLog(file: string): Promise<MetricsRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new PeftkitError(METRICS_ERROR_CODES.IO, `cannot read ${file}: ${String(cause)}`, { file }, { cause });
  }
  return parseMetricsLog(text, file);
}

/** One JSON line; non-finite numbers become null (JSON.stringify would do it silently too, but explicitly here). */
export function metricsLine(record: MetricsRecord): string {
  return `${JSON.stringify(record, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))}\n`;
}

type Handle = Awaited<ReturnType<typeof open>>;

/**
 * Appends metrics records to a JSONL file: opened once in append mode, one write per whole line (so a crash
 * loses at most the line being written, which the reader tolerates), writes kept in order, fsync on close.
 * Usable directly as the loop's TrainCallbacks.
 */
export class MetricsLog implements TrainCallbacks {
  readonly file: string;
  readonly #handle: Handle;
  readonly #now: () => Date;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(file: string, handle: Handle, now: () => Date) {
    this.file = file;
    this.#handle = handle;
    this.#now = now;
  }

  /** Opens (creating or appending to) `file`. `now` is a seam for tests. */
  static async open(file: string, options: { now?: () => Date } = {}): Promise<MetricsLog> {
    try {
      return new MetricsLog(file, await open(file, 'a'), options.now ?? (() => new Date()));
    } catch (cause) {
      throw new PeftkitError(METRICS_ERROR_CODES.IO, `cannot open ${file}: ${String(cause)}`, { file }, { cause });
    }
  }

  onStep(event: StepEvent): Promise<void> {
    return this.append({ type: 'step', time: this.#now().toISOString(), ...event });
  }

  onEval(event: EvalEvent): Promise<void> {
    return this.append({ type: 'eval', time: this.#now().toISOString(), ...event });
  }

  onSave(event: SaveEvent): Promise<void> {
    return this.append({ type: 'save', time: this.#now().toISOString(), ...event });
  }

  append(record: MetricsRecord): Promise<void> {
    if (this.#closed)
      return Promise.reject(
        new PeftkitError(METRICS_ERROR_CODES.CLOSED, `${this.file} is closed`, { file: this.file }),
      );
    const line = metricsLine(record);
    const write = this.#queue.then(async () => {
      try {
        await this.#handle.write(line);
      } catch (cause) {
        throw new PeftkitError(
          METRICS_ERROR_CODES.IO,
          `cannot write ${this.file}: ${String(cause)}`,
          { file: this.file },
          { cause },
        );
      }
    });
    // Later writes wait for this one, but one failure must not poison the queue silently: the caller sees it.
    this.#queue = write.catch(() => undefined);
    return write;
  }

  /** Waits for pending writes, flushes to disk and closes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    try {
      await this.#handle.sync();
    } finally {
      await this.#handle.close();
    }
  }
}
