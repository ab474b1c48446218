/**
 * Inference throughput: prefill and decode tokens/s of Llama models through peftkit's generator (greedy), per
 * backend, batch size, and with / without the KV cache.
 *
 * Usage: node --import tsx bench/inference.ts [--backends wasm,cpu] [--models 260k,15m] [--batches 1,8]
 *        [--prompt 64] [--new-tokens 64] [--max-cell-s 15] [--logprobs] [--out bench/results/inference-<stamp>.json]
 *
 * Greedy decoding picks the arg-max alone, as the PyTorch peer's loop does; `--logprobs` also computes each token's
 * log-probability (a softmax over the vocabulary per step), as the server's LoRAX routes ask for.
 * Prefill = the first generator step (forward over the prompt + first sampled token): batch·prompt tokens / s.
 * Decode  = the following steps: batch·steps tokens / s, with the cache (one new token per forward) or without it
 * (the whole sequence re-run per token). A cell stops early once it has run `--max-cell-s` seconds and reports the
 * steps it completed, so slow cells (cpu backend, no cache) stay bounded.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchGenerator } from '../packages/models/src/generate/generate.ts';
import { createTensorRuntime } from '../test/support/runtime.ts';
import type { Tf } from '../core/src/runtime/types.ts';
import { type BenchModel, stories15MRandom, stories260K } from './inference-models.ts';

export interface InferenceCell {
  model: string;
  backend: string;
  batch: number;
  cache: boolean;
  promptTokens: number;
  /** Prompt tokens per second over the whole batch. */
  prefillTokensPerSecond: number;
  /** Generated tokens per second over the whole batch (after the first). */
  decodeTokensPerSecond: number;
  /** Milliseconds per decode step (one new token for every row). */
  decodeStepMs: number;
  decodeSteps: number;
  /** Tensors alive after the cell minus before (must be 0). */
  leakedTensors: number;
}

export interface Settings {
  backends: string[];
  models: string[];
  batches: number[];
  prompt: number;
  newTokens: number;
  maxCellS: number;
  /** Compute each generated token's log-probability (the generator's `logprobs` option). */
  logprobs: boolean;
  out: string;
}

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

function positiveInts(value: string, name: string): number[] {
  const values = value.split(',').map(Number);
  if (values.some((n) => !Number.isInteger(n) || n <= 0))
    throw new Error(`--${name} takes positive integers, got '${value}'`);
  return values;
}

export function parseSettings(argv: string[], now = new Date()): Settings {
  const stamp = now.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const root = fileURLToPath(new URL('..', import.meta.url));
  return {
    backends: (option(argv, 'backends') ?? 'wasm,cpu').split(',').filter(Boolean),
    models: (option(argv, 'models') ?? '260k,15m').split(',').filter(Boolean),
    batches: positiveInts(option(argv, 'batches') ?? '1,8', 'batches'),
    prompt: positiveInts(option(argv, 'prompt') ?? '64', 'prompt')[0] as number,
    newTokens: positiveInts(option(argv, 'new-tokens') ?? '64', 'new-tokens')[0] as number,
    maxCellS: Number(option(argv, 'max-cell-s') ?? '15'),
    logprobs: argv.includes('--logprobs'),
    out: resolve(option(argv, 'out') ?? `${root}bench/results/inference-${stamp}.json`),
  };
}

/** One generation: times the prefill step and the decode steps. */
export function measureCell(
  tf: Tf,
  bench: BenchModel,
  backend: string,
  batch: number,
  cache: boolean,
  s: Settings,
): InferenceCell {
  const before = tf.memory().numTensors;
  const prompt = bench.prompt(s.prompt);
  const requests = Array.from({ length: batch }, () => ({ ids: prompt }));
  const generator = new BatchGenerator(bench.model, bench.tokenizer, requests, {
    maxTokens: s.newTokens,
    temperature: 0,
    stopAtEos: false,
    useCache: cache,
    logprobs: s.logprobs,
  });
  let prefillMs = 0;
  let decodeMs = 0;
  let decodeSteps = 0;
  try {
    let start = performance.now();
    generator.step();
    prefillMs = performance.now() - start;
    // A step is predicted to cost what the previous one did (without the cache the first one re-runs the whole
    // prompt, as the prefill did): stop before the cap.
    const deadline = performance.now() + s.maxCellS * 1000;
    let predicted = cache ? 0 : prefillMs;
    while (!generator.done && performance.now() + predicted < deadline) {
      start = performance.now();
      generator.step();
      predicted = performance.now() - start;
      decodeMs += predicted;
      decodeSteps++;
    }
  } finally {
    generator.dispose();
  }
  return {
    model: bench.name,
    backend,
    batch,
    cache,
    promptTokens: s.prompt,
    prefillTokensPerSecond: (batch * s.prompt) / (prefillMs / 1000),
    decodeTokensPerSecond: decodeSteps === 0 ? 0 : (batch * decodeSteps) / (decodeMs / 1000),
    decodeStepMs: decodeSteps === 0 ? 0 : decodeMs / decodeSteps,
    decodeSteps,
    leakedTensors: tf.memory().numTensors - before,
  };
}

async function loadBenchModel(tf: Tf, name: string): Promise<BenchModel | undefined> {
  if (name === '260k') return stories260K(tf);
  if (name === '15m') return stories15MRandom(tf);
  throw new Error(`unknown model '${name}' (260k, 15m)`);
}

export function formatTable(cells: readonly InferenceCell[]): string {
  const rows = [['model', 'backend', 'batch', 'kv cache', 'prefill tok/s', 'decode tok/s', 'ms/decode step', 'steps']];
  for (const c of cells) {
    rows.push([
      c.model,
      c.backend,
      String(c.batch),
      c.cache ? 'yes' : 'no',
      c.prefillTokensPerSecond.toFixed(0),
      c.decodeSteps === 0 ? 'skipped' : c.decodeTokensPerSecond.toFixed(1),
      c.decodeSteps === 0 ? 'skipped' : c.decodeStepMs.toFixed(1),
      String(c.decodeSteps),
    ]);
  }
  const widths = (rows[0] as string[]).map((_, col) => Math.max(...rows.map((r) => (r[col] as string).length)));
  const lines = rows.map((row) => `| ${row.map((cell, col) => cell.padEnd(widths[col] as number)).join(' | ')} |`);
  lines.splice(1, 0, `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const s = parseSettings(process.argv.slice(2));
  const cells: InferenceCell[] = [];
  for (const backend of s.backends) {
    const { tf } = await createTensorRuntime({ backend });
    for (const name of s.models) {
      const bench = await loadBenchModel(tf, name);
      if (bench === undefined) {
        console.error(`skipping ${name}: stories260K files are not there (PEFTKIT_SHARED?)`);
        continue;
      }
      try {
        for (const batch of s.batches) {
          // Warm-up with the timed shapes (kernel setup, XNNPACK operators, V8/wasm tier-up): otherwise the first
          // cell of each batch size pays it.
          measureCell(tf, bench, backend, batch, true, { ...s, newTokens: 3 });
          for (const cache of [true, false]) {
            const cell = measureCell(tf, bench, backend, batch, cache, s);
            cells.push(cell);
            console.error(
              `${cell.model} ${backend} batch ${batch} cache ${cache}: ` +
                `prefill ${cell.prefillTokensPerSecond.toFixed(0)} tok/s, ` +
                `decode ${cell.decodeTokensPerSecond.toFixed(1)} tok/s`,
            );
          }
        }
      } finally {
        await bench.dispose();
      }
    }
  }
  console.log(formatTable(cells));
  const report = {
    bench: 'inference',
    date: new Date().toISOString(),
    // The bench machine is shared: the 1/5/15-minute load average at the end says how contended the run was.
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      runtime: `node ${process.version}`,
      loadAverage: loadavg(),
    },
    settings: { ...s, out: undefined },
    cells,
  };
  mkdirSync(dirname(s.out), { recursive: true });
  writeFileSync(s.out, `${JSON.stringify(report, null, 2)}\n`);
  console.error(`wrote ${s.out}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
