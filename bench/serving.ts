/**
 * Multi-adapter serving throughput (the S-LoRA vs PEFT comparison at our scale): requests/s of the server's
 * in-process engine (@peftkit/server LocalEngine, the engine behind createApp) with 1, 8, 32 and 128 LoRA adapters,
 * requests spread round-robin over them, in two modes:
 *   - mixed: rows of different adapters share one forward (per-row selection; the engine's default), and
 *   - swap:  one batch per adapter (`mixedBatching: false`), as PEFT's one-active-adapter model serves.
 * Model: the real stories260K (test/fixtures/stories260K, converted to a temp HF dir); adapters: LoRA q,v r=8 with
 * random (non-zero) B, saved to a temp adapter root and preloaded, so loading is not timed.
 *
 * Usage: node --import tsx bench/serving.ts [--quick] [--adapters 1,8,32,128] [--requests 128] [--new-tokens 16]
 *        [--modes mixed,swap] [--max-batch 32] [--backend wasm] [--same-adapter]
 *        [--rounds 1] [--small-product-macs N] [--without-kernels A,B] [--out bench/results/serving-<stamp>.json]
 * --same-adapter: N adapters loaded, every request on `a0` (isolates what the number of loaded adapters costs).
 * --rounds: timed rounds of `--requests` each per cell (the queue holds 256 + max batch: more requests need rounds).
 */
import { ENGINE_COMPOSITION } from 'peftkit';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { setSmallProductMacs } from '@peftkit/adapters';
import { disposeSaved, writeAdapterDir } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { loadModel } from '@peftkit/models';
import lora from '@peftkit/lora';
import { LocalEngine } from '@peftkit/server';
import { convertLlama2cFiles } from '../packages/models/src/convert/llama2c-files.ts';
import { machine } from './train.ts';
import { barChartSvg, formatTable } from './train-report.ts';

export interface ServingSettings {
  adapters: number[];
  /** Which modes to run (default both); `--modes mixed` for quick A/B runs of mixed batching alone. */
  modes: ('mixed' | 'swap')[];
  /** Every request asks for `a0` while all N adapters stay loaded: the cost of loaded-but-unused adapters. */
  sameAdapter: boolean;
  /** Peftkit kernels unregistered once each engine is up (A/B of a fused kernel against the ops it replaces). */
  withoutKernels: string[];
  requests: number;
  rounds: number;
  newTokens: number;
  maxBatch: number;
  backend: string;
  out: string;
}

export interface ServingCell {
  adapters: number;
  mode: 'mixed' | 'swap';
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  tokensPerSecond: number;
  /** Forward steps the engine ran, and generated tokens per step (rows sharing a forward). */
  steps: number;
  tokensPerStep: number;
  /** The timed rounds as `start-end` in monotonic µs (process.hrtime), for profile windows. */
  window?: string;
}

function option(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

function positiveInts(raw: string, name: string): number[] {
  const values = raw.split(',').map(Number);
  if (values.some((n) => !Number.isInteger(n) || n <= 0))
    throw new Error(`--${name} takes positive integers, got '${raw}'`);
  return values;
}

function modes(raw: string): ('mixed' | 'swap')[] {
  const values = raw.split(',');
  if (values.some((m) => m !== 'mixed' && m !== 'swap'))
    throw new Error(`--modes takes mixed and/or swap, got '${raw}'`);
  return values as ('mixed' | 'swap')[];
}

export function parseServingSettings(argv: readonly string[], now = new Date()): ServingSettings {
  const quick = argv.includes('--quick');
  const stamp = now.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return {
    adapters: positiveInts(option(argv, 'adapters') ?? (quick ? '1,8' : '1,8,32,128'), 'adapters'),
    modes: modes(option(argv, 'modes') ?? 'mixed,swap'),
    sameAdapter: argv.includes('--same-adapter'),
    withoutKernels: (option(argv, 'without-kernels') ?? '').split(',').filter(Boolean),
    requests: positiveInts(option(argv, 'requests') ?? (quick ? '16' : '128'), 'requests')[0] as number,
    rounds: positiveInts(option(argv, 'rounds') ?? '1', 'rounds')[0] as number,
    newTokens: positiveInts(option(argv, 'new-tokens') ?? (quick ? '4' : '16'), 'new-tokens')[0] as number,
    maxBatch: positiveInts(option(argv, 'max-batch') ?? '32', 'max-batch')[0] as number,
    backend: option(argv, 'backend') ?? 'wasm',
    out: resolve(option(argv, 'out') ?? fileURLToPath(new URL(`./results/serving-${stamp}.json`, import.meta.url))),
  };
}

// The vendored test fixture (test/fixtures/stories260K); PEFTKIT_SHARED, a shared/ root, overrides (e.g. a baseline
// run).
const SHARED = process.env.PEFTKIT_SHARED
  ? join(process.env.PEFTKIT_SHARED, 'models', 'stories260K')
  : fileURLToPath(new URL('../test/fixtures/stories260K/', import.meta.url));

/** Writes `count` LoRA adapters (q,v r=8, random B) for the model in `modelDir` under `root`. */
async function writeAdapters(modelDir: string, root: string, count: number, backend: string): Promise<void> {
  const kernel = await createKernel({ backend, plugins: [lora], logger: { warn() {}, info() {} } });
  const { model } = await loadModel(kernel.tf, modelDir);
  const manager = kernel.adapters(model);
  try {
    for (let i = 0; i < count; i++) {
      const name = `a${i}`;
      manager.create(
        name,
        'lora',
        { r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'], init_lora_weights: false },
        { seed: i + 1 },
      );
      const saved = manager.save(name);
      await writeAdapterDir(join(root, name), saved);
      disposeSaved(saved);
      manager.delete(name);
    }
  } finally {
    manager.dispose();
    model.dispose();
    await kernel.dispose();
  }
}

async function measureCell(
  modelDir: string,
  root: string,
  adapters: number,
  mode: 'mixed' | 'swap',
  s: ServingSettings,
): Promise<ServingCell> {
  const names = Array.from({ length: adapters }, (_, i) => `a${i}`);
  const engine = await LocalEngine.create({
    composition: ENGINE_COMPOSITION,
    modelDir,
    adapterRoot: root,
    preload: names,
    mixedBatching: mode === 'mixed',
    maxBatch: s.maxBatch,
    backend: s.backend,
    plugins: ['@peftkit/lora'],
  });
  for (const name of s.withoutKernels) if (tf.getKernel(name, s.backend)) tf.unregisterKernel(name, s.backend);
  const pick = (i: number) => names[s.sameAdapter ? 0 : i % adapters] as string;
  const params = { maxTokens: s.newTokens, temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, stop: [], seed: 1 };
  try {
    const round = (count: number) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          engine.generate({ prompt: `Once upon a time ${i % 7}`, adapter: pick(i), params }),
        ),
      );
    // Warm-up over every adapter and a full batch: kernel setup and V8/wasm tier-up stay out of the timing.
    await round(Math.max(adapters, Math.min(s.requests, s.maxBatch)));
    const before = engine.stats();
    // Monotonic µs, the clock of `--cpu-prof` samples: bench/cpuprofile-top.ts --window keeps the timed rounds only.
    const window = [process.hrtime.bigint() / 1000n];
    const start = performance.now();
    let tokens = 0;
    for (let r = 0; r < s.rounds; r++) tokens += (await round(s.requests)).reduce((n, o) => n + o.ids.length, 0);
    const seconds = (performance.now() - start) / 1000;
    window.push(process.hrtime.bigint() / 1000n);
    const after = engine.stats();
    const steps = after.steps - before.steps;
    return {
      adapters,
      mode,
      requests: s.requests * s.rounds,
      seconds,
      requestsPerSecond: (s.requests * s.rounds) / seconds,
      tokensPerSecond: tokens / seconds,
      steps,
      tokensPerStep: steps > 0 ? (after.tokensGenerated - before.tokensGenerated) / steps : 0,
      window: window.join('-'),
    };
  } finally {
    await engine.close();
  }
}

export function servingTable(cells: readonly ServingCell[]): string {
  const rows = cells.map((c) => {
    const other = cells.find((o) => o.adapters === c.adapters && o.mode === 'swap');
    return [
      String(c.adapters),
      c.mode,
      c.requestsPerSecond.toFixed(2),
      c.tokensPerSecond.toFixed(1),
      String(c.steps),
      c.tokensPerStep.toFixed(1),
      c.mode === 'mixed' && other ? `${(c.requestsPerSecond / other.requestsPerSecond).toFixed(2)}x` : '',
    ];
  });
  return formatTable(
    ['adapters', 'mode', 'requests/s', 'tokens/s', 'forward steps', 'tokens/step', 'mixed/swap'],
    rows,
  );
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const s = parseServingSettings(argv);
  // A/B of the SIMD pass for batched small products (mixed-adapter LoRA rows): 0 turns it off.
  const smallMacs = option(argv, 'small-product-macs');
  if (smallMacs !== undefined) setSmallProductMacs(Number(smallMacs));
  const bin = join(SHARED, 'stories260K.bin');
  const tok = join(SHARED, 'tok512.bin');
  if (!existsSync(bin) || !existsSync(tok)) {
    console.log(`serving bench skipped: ${SHARED} (stories260K.bin, tok512.bin) is not there`);
    return;
  }
  const started = machine();
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-bench-serving-'));
  const cells: ServingCell[] = [];
  try {
    const modelDir = join(dir, 'model');
    const root = join(dir, 'adapters');
    await convertLlama2cFiles(bin, tok, modelDir);
    await writeAdapters(modelDir, root, Math.max(...s.adapters), s.backend);
    for (const adapters of s.adapters) {
      for (const mode of s.modes) {
        const cell = await measureCell(modelDir, root, adapters, mode, s);
        cells.push(cell);
        const rate = cell.requestsPerSecond.toFixed(2);
        console.error(`[serving] ${adapters} adapters ${mode}: ${rate} req/s (µs ${cell.window})`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const ended = machine();
  console.log(servingTable(cells));
  const requests = `${s.rounds} × ${s.requests} concurrent requests${s.sameAdapter ? ' (every one on a0)' : ''}`;
  console.log(
    `stories260K, ${requests} × ${s.newTokens} new tokens, max batch ${s.maxBatch}, backend ${s.backend}; ` +
      `load average ${started.loadavg.join(' ')} at start, ${ended.loadavg.join(' ')} at end`,
  );
  mkdirSync(dirname(s.out), { recursive: true });
  const machineInfo = { ...ended, loadavgAtStart: started.loadavg };
  const report = {
    bench: 'serving',
    date: new Date().toISOString(),
    machine: machineInfo,
    settings: { ...s, out: undefined },
    cells,
  };
  writeFileSync(s.out, `${JSON.stringify(report, null, 2)}\n`);
  const svg = s.out.replace(/\.json$/, '.svg');
  const bars = cells.map((c) => ({
    label: `${c.adapters} adapters, ${c.mode}`,
    value: c.requestsPerSecond,
    peer: c.mode === 'swap',
  }));
  writeFileSync(
    svg,
    barChartSvg(
      `Serving requests/s, stories260K, ${s.requests} requests (swap in red; load ${started.loadavg[0]})`,
      bars,
    ),
  );
  console.error(`[serving] wrote ${s.out} and ${svg}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
