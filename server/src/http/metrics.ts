import type { EngineStats } from '../engine/types.ts';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const TOKEN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Adapters with their own label; later names share "other", so a client cannot grow the series without bound. */
export const ADAPTER_LABELS = 32;

/** A Prometheus histogram without labels: cumulative buckets, `_sum`, `_count`. */
class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = bounds.map(() => 0);
  }
  observe(value: number): void {
    this.#bounds.forEach((b, i) => {
      if (value <= b) this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    });
    this.sum += value;
    this.count++;
  }
  render(name: string, help: string): string[] {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    this.#bounds.forEach((b, i) => {
      lines.push(`${name}_bucket{le="${b}"} ${this.#counts[i]}`);
    });
    lines.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum}`, `${name}_count ${this.count}`);
    return lines;
  }
}

/** HTTP-side counters (kept on the HTTP thread, so /metrics never waits for the engine). */
export class Metrics {
  readonly #requests = new Map<string, number>();
  readonly #latency = new Map<string, { buckets: number[]; sum: number; count: number }>();
  rejected = 0;
  readonly timeToFirstToken = new Histogram(TOKEN_BUCKETS);
  readonly interTokenLatency = new Histogram(TOKEN_BUCKETS);
  readonly #adapters = new Map<string, { requests: number; tokens: number }>();

  /** A finished generation, counted under its adapter's name (`name@v3` → `name`; bounded label set). */
  observeAdapter(version: string, tokens: number): void {
    const name = version.split('@')[0] as string;
    const label = this.#adapters.has(name) || this.#adapters.size < ADAPTER_LABELS ? name : 'other';
    const entry = this.#adapters.get(label) ?? { requests: 0, tokens: 0 };
    entry.requests++;
    entry.tokens += tokens;
    this.#adapters.set(label, entry);
  }

  observe(route: string, status: number, seconds: number): void {
    const key = `route="${route}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    const h = this.#latency.get(route) ?? { buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
    LATENCY_BUCKETS.forEach((b, i) => {
      if (seconds <= b) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
    });
    h.sum += seconds;
    h.count++;
    this.#latency.set(route, h);
  }

  /** Prometheus text exposition format 0.0.4. */
  render(engine: EngineStats, extra: { inFlight: number; draining: boolean }): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels ? `{${labels}}` : ''} ${value}`);
    };
    metric('peftkit_requests_total', 'counter', 'HTTP requests by route and status.', [...this.#requests]);
    lines.push(
      '# HELP peftkit_request_duration_seconds Request latency.',
      '# TYPE peftkit_request_duration_seconds histogram',
    );
    for (const [route, h] of this.#latency) {
      LATENCY_BUCKETS.forEach((b, i) => {
        lines.push(`peftkit_request_duration_seconds_bucket{route="${route}",le="${b}"} ${h.buckets[i]}`);
      });
      lines.push(`peftkit_request_duration_seconds_bucket{route="${route}",le="+Inf"} ${h.count}`);
      lines.push(
        `peftkit_request_duration_seconds_sum{route="${route}"} ${h.sum}`,
        `peftkit_request_duration_seconds_count{route="${route}"} ${h.count}`,
      );
    }
    lines.push(
      ...this.timeToFirstToken.render(
        'peftkit_time_to_first_token_seconds',
        'From the engine call (queue wait included) to the first token.',
      ),
    );
    lines.push(
      ...this.interTokenLatency.render(
        'peftkit_inter_token_latency_seconds',
        'Time between consecutive tokens of one generation.',
      ),
    );
    const adapters = [...this.#adapters].map(([name, v]) => [`adapter="${name.replace(/["\\\n]/g, '_')}"`, v] as const);
    metric(
      'peftkit_adapter_requests_total',
      'counter',
      `Generations per adapter ("base", the first ${ADAPTER_LABELS} names, then "other").`,
      adapters.map(([l, v]) => [l, v.requests]),
    );
    metric(
      'peftkit_adapter_generated_tokens_total',
      'counter',
      'Tokens generated per adapter (same labels).',
      adapters.map(([l, v]) => [l, v.tokens]),
    );
    metric('peftkit_engine_restarts_total', 'counter', 'Times the engine worker died and was restarted.', [
      ['', engine.engineRestarts ?? 0],
    ]);
    metric('peftkit_requests_rejected_total', 'counter', 'Requests refused because the queue was full.', [
      ['', this.rejected],
    ]);
    metric('peftkit_requests_in_flight', 'gauge', 'Requests being handled (streams until their last event).', [
      ['', extra.inFlight],
    ]);
    metric('peftkit_draining', 'gauge', '1 while shutting down.', [['', extra.draining ? 1 : 0]]);
    metric('peftkit_generated_tokens_total', 'counter', 'Tokens generated.', [['', engine.tokensGenerated]]);
    metric('peftkit_prompt_tokens_total', 'counter', 'Prompt tokens processed.', [['', engine.promptTokens]]);
    metric('peftkit_queue_depth', 'gauge', 'Requests waiting for a batch slot.', [['', engine.queueDepth]]);
    metric('peftkit_batches_total', 'counter', 'Batches formed by the scheduler.', [['', engine.batches]]);
    lines.push('# HELP peftkit_batch_size Rows per decode step.', '# TYPE peftkit_batch_size histogram');
    const buckets = Object.keys(engine.batchSizes)
      .filter((b) => b !== '+Inf')
      .map(Number)
      .sort((a, b) => a - b);
    let cumulative = 0;
    for (const b of buckets) {
      cumulative += engine.batchSizes[String(b)] ?? 0;
      lines.push(`peftkit_batch_size_bucket{le="${b}"} ${cumulative}`);
    }
    // Every active row of a step yields one token, so the sum of rows over all steps is the tokens generated.
    lines.push(
      `peftkit_batch_size_bucket{le="+Inf"} ${engine.steps}`,
      `peftkit_batch_size_sum ${engine.tokensGenerated}`,
      `peftkit_batch_size_count ${engine.steps}`,
    );
    metric('peftkit_adapters_loaded', 'gauge', 'Adapters loaded in memory.', [['', engine.adaptersLoaded]]);
    metric('peftkit_adapter_bytes', 'gauge', 'Bytes held by loaded adapters.', [['', engine.adapterBytes]]);
    metric('peftkit_adapter_swaps_total', 'counter', 'Adapter replacements and unloads.', [['', engine.swaps]]);
    metric('peftkit_adapter_evictions_total', 'counter', 'Adapters evicted by the byte budget.', [
      ['', engine.evictions],
    ]);
    metric('peftkit_tensors', 'gauge', 'Live tensors in the engine.', [['', engine.numTensors]]);
    return `${lines.join('\n')}\n`;
  }
}
