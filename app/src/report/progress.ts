import type { EvalEvent, SaveEvent, StepEvent, TrainCallbacks } from '@peftkit/core/train';
import { formatCount, formatDuration, formatNumber, formatPercent } from './format.ts';

/** Anything text can be written to: process.stdout/stderr under Node, Deno and Bun, or a test double. */
export interface TextSink {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
}

export interface ProgressOptions {
  /** Non-TTY: print a line every N steps (and the last one). Default 10. */
  readonly every?: number;
  /** Width of the bar in characters. Default 24. */
  readonly barWidth?: number;
  /** Overrides the sink's isTTY. */
  readonly tty?: boolean;
}

/** Throughput and remaining time derived from the events seen so far. */
export interface ProgressRates {
  readonly tokensPerSecond: number;
  readonly etaSeconds: number;
}

/** The one-line step summary (without the bar): `step 12/100 loss 2.345 lr 1.00e-4 1,234 tok/s ETA 1:23`. */
export function formatStepLine(event: StepEvent, rates: ProgressRates): string {
  return [
    `step ${event.step}/${event.totalSteps}`,
    `loss ${formatNumber(event.loss)}`,
    `lr ${event.lr === 0 ? '0' : event.lr.toExponential(2)}`,
    `${formatCount(rates.tokensPerSecond)} tok/s`,
    `ETA ${formatDuration(rates.etaSeconds)}`,
  ].join('  ');
}

export function formatEvalLine(event: EvalEvent): string {
  const accuracy = event.accuracy === undefined ? '' : `  accuracy ${formatPercent(event.accuracy)}`;
  return (
    `eval @ step ${event.step}: loss ${formatNumber(event.loss)}  perplexity ` +
    `${formatNumber(event.perplexity)}${accuracy}  (${event.examples} examples)`
  );
}

export function formatSaveLine(event: SaveEvent): string {
  return `saved checkpoint @ step ${event.step}: ${event.dir}`;
}

/**
 * A progress display for the loop's callbacks. On a TTY one line is rewritten in place with `\r` (bar, step,
 * loss, lr, tokens/s, ETA); elsewhere (logs, CI, pipes) a plain line every `every` steps. Eval and save events
 * are their own lines either way. Writes only through the given sink, so it runs on every runtime.
 */
export class ProgressBar implements TrainCallbacks {
  readonly #out: TextSink;
  readonly #tty: boolean;
  readonly #every: number;
  readonly #barWidth: number;
  #tokens = 0;
  #steps = 0;
  #drawn = 0;
  #last: StepEvent | undefined;

  constructor(out: TextSink, options: ProgressOptions = {}) {
    this.#out = out;
    this.#tty = options.tty ?? out.isTTY === true;
    this.#every = Math.max(1, Math.floor(options.every ?? 10));
    this.#barWidth = Math.max(4, Math.floor(options.barWidth ?? 24));
  }

  /** Rates over the steps this display has seen (a resumed run counts from its own start, like `elapsed`). */
  rates(event: StepEvent): ProgressRates {
    const elapsed = event.elapsed > 0 ? event.elapsed : Number.NaN;
    return {
      tokensPerSecond: this.#tokens / elapsed,
      etaSeconds: (elapsed / Math.max(1, this.#steps)) * Math.max(0, event.totalSteps - event.step),
    };
  }

  onStep(event: StepEvent): void {
    this.#tokens += event.tokens;
    this.#steps++;
    this.#last = event;
    const line = formatStepLine(event, this.rates(event));
    if (this.#tty) {
      this.#draw(`${this.#bar(event)} ${line}`);
    } else if (event.step % this.#every === 0 || event.step >= event.totalSteps) {
      this.#out.write(`${line}\n`);
    }
  }

  onEval(event: EvalEvent): void {
    this.#printLine(formatEvalLine(event));
  }

  onSave(event: SaveEvent): void {
    this.#printLine(formatSaveLine(event));
  }

  /** Ends the in-place line (TTY) so later output starts on a fresh line. */
  close(): void {
    if (this.#tty && this.#drawn > 0) this.#out.write('\n');
    this.#drawn = 0;
  }

  #bar(event: StepEvent): string {
    const fraction = event.totalSteps > 0 ? Math.min(1, Math.max(0, event.step / event.totalSteps)) : 0;
    const filled = Math.round(fraction * this.#barWidth);
    return (
      `[${'#'.repeat(filled)}${'.'.repeat(this.#barWidth - filled)}] ` +
      `${String(Math.floor(fraction * 100)).padStart(3)}%`
    );
  }

  /** Rewrites the current line; spaces clear what a longer previous line left behind (no ANSI codes needed). */
  #draw(text: string): void {
    this.#out.write(`\r${text}${' '.repeat(Math.max(0, this.#drawn - text.length))}`);
    this.#drawn = text.length;
  }

  #printLine(text: string): void {
    if (!this.#tty) {
      this.#out.write(`${text}\n`);
      return;
    }
    // Clear the bar, print the line, then redraw the bar below it.
    if (this.#drawn > 0) this.#out.write(`\r${' '.repeat(this.#drawn)}\r`);
    this.#out.write(`${text}\n`);
    const last = this.#last;
    this.#drawn = 0;
    if (last !== undefined) this.#draw(`${this.#bar(last)} ${formatStepLine(last, this.rates(last))}`);
  }
}
