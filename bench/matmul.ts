/**
 * Matrix-product throughput per tensor backend, tfjs's own kernels (before) against peftkit's wasm kernels (after)
 * and, on wasm with a BLAS on the machine, peftkit's BLAS kernels (blas; threads: OPENBLAS_NUM_THREADS), in one run.
 * The small sizes show the BLAS crossover (DEFAULT_MIN_MACS in adapters/tensor/kernels/blas-matmul.ts).
 * Usage: node --conditions=peftkit:source --import tsx bench/matmul.ts [--backends wasm,cpu]
 *
 * Each measurement predicts its duration from the rate of the previous, smaller size of the same
 * variant and is skipped when one product would take more than MAX_SINGLE_S, so the whole run stays
 * around two minutes on a 2-core machine.
 */
import {
  blasLibrary,
  describeBlas,
  isPeftkitKernel,
  setBlasKernelSettings,
  withOriginalKernels,
  withoutBlas,
} from '@peftkit/adapters';
import { createTensorRuntime } from '../test/support/runtime.ts';
import type { Tf } from '../core/src/runtime/types.ts';

const MAX_SINGLE_S = 10;
const TARGET_S = 1;
const MAX_REPS = 200;

interface Case {
  label: string;
  variant: string;
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
  flops: number;
}

function squareCases(): Case[] {
  const cases: Case[] = [];
  const sizes: Array<{ label: string; m: number; k: number; n: number }> = [
    { label: '16²', m: 16, k: 16, n: 16 },
    { label: '32²', m: 32, k: 32, n: 32 },
    { label: '64²', m: 64, k: 64, n: 64 },
    { label: '128²', m: 128, k: 128, n: 128 },
    { label: '256²', m: 256, k: 256, n: 256 },
    { label: '512²', m: 512, k: 512, n: 512 },
    { label: '1024²', m: 1024, k: 1024, n: 1024 },
    { label: '[4096×768]·[768×768]', m: 4096, k: 768, n: 768 },
  ];
  for (const variant of ['plain', 'transposeA', 'transposeB']) {
    for (const { label, m, k, n } of sizes) {
      const tA = variant === 'transposeA';
      const tB = variant === 'transposeB';
      cases.push({
        label,
        variant,
        a: tA ? [k, m] : [m, k],
        b: tB ? [n, k] : [k, n],
        transposeA: tA,
        transposeB: tB,
        flops: 2 * m * k * n,
      });
    }
  }
  cases.push({
    label: '[8,256,64]·[8,64,256]',
    variant: 'batched',
    a: [8, 256, 64],
    b: [8, 64, 256],
    transposeA: false,
    transposeB: false,
    flops: 2 * 8 * 256 * 64 * 256,
  });
  return cases;
}

type Result = number | 'skipped';

/** GFLOP/s of `c`, or 'skipped' when the predicted single-product time exceeds MAX_SINGLE_S. */
function measure(tf: Tf, c: Case, predictedRate: number | undefined): Result {
  const predicted = predictedRate === undefined ? 0 : c.flops / (predictedRate * 1e9);
  if (predicted > MAX_SINGLE_S) return 'skipped';
  const a = tf.randomUniform(c.a, -1, 1);
  const b = tf.randomUniform(c.b, -1, 1);
  // The block body matters: tidy() walks a returned TypedArray element by element looking for tensors.
  const once = () =>
    tf.tidy(() => {
      tf.matMul(a, b, c.transposeA, c.transposeB).dataSync();
    });
  try {
    let estimate = predicted;
    if (predicted < 2) {
      // Warm-up (kernel setup, XNNPACK weight packing) that doubles as the first estimate.
      const start = performance.now();
      once();
      if (predictedRate === undefined) estimate = (performance.now() - start) / 1000;
    }
    const reps = Math.max(1, Math.min(MAX_REPS, Math.floor(TARGET_S / Math.max(estimate, 1e-4))));
    const start = performance.now();
    for (let i = 0; i < reps; i++) once();
    const seconds = (performance.now() - start) / 1000;
    return (c.flops * reps) / seconds / 1e9;
  } finally {
    a.dispose();
    b.dispose();
  }
}

/** Runs products for about `seconds` so V8 tiers the wasm code up before anything is timed. */
function warmUp(tf: Tf, seconds: number): void {
  const a = tf.randomUniform([256, 256], -1, 1);
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    tf.tidy(() => {
      tf.matMul(a, a).dataSync();
      tf.matMul(a, a, true, false).dataSync();
    });
  }
  a.dispose();
}

interface Row {
  before: Result;
  after: Result;
  /** undefined: no BLAS on this backend. */
  blas: Result | undefined;
}

/** Before, after and blas interleaved per case, so machine noise and tier-up hit all alike. */
function runSeries(tf: Tf, backend: string, cases: Case[], replaced: boolean, blas: boolean): Row[] {
  const lastRate = new Map<string, number>();
  const timed = (key: string, c: Case, run: (f: () => Result) => Result): Result => {
    const result = run(() => measure(tf, c, lastRate.get(key)));
    if (typeof result === 'number') lastRate.set(key, result);
    return result;
  };
  return cases.map((c) => {
    const after = timed(`after ${c.variant}`, c, (f) => withoutBlas(f));
    // Without a peftkit BatchMatMul on this backend, before and after are the same kernel.
    const before = replaced ? timed(`before ${c.variant}`, c, (f) => withOriginalKernels(tf, backend, f)) : after;
    // Every product through BLAS, below the default threshold too, to show where it starts to win.
    const viaBlas = blas ? timed(`blas ${c.variant}`, c, (f) => withAllOnBlas(f)) : undefined;
    return { before, after, blas: viaBlas };
  });
}

function withAllOnBlas<T>(fn: () => T): T {
  const previous = setBlasKernelSettings({ minMacs: 0 });
  try {
    return fn();
  } finally {
    setBlasKernelSettings(previous);
  }
}

function format(result: Result | undefined): string {
  return result === undefined ? '' : result === 'skipped' ? 'skipped' : result.toFixed(2);
}

function parseBackends(argv: string[]): string[] {
  const index = argv.indexOf('--backends');
  const value = index >= 0 ? argv[index + 1] : undefined;
  return (value ?? 'wasm,cpu').split(',').filter((s) => s !== '');
}

async function main(): Promise<void> {
  const rows: string[][] = [
    ['backend', 'product', 'variant', 'before GFLOP/s', 'after GFLOP/s', 'speedup', 'blas GFLOP/s', 'blas / after'],
  ];
  const cases = squareCases();
  console.log(`BLAS: ${describeBlas()}`);
  for (const backend of parseBackends(process.argv.slice(2))) {
    const { tf } = await createTensorRuntime({ backend });
    const replaced = isPeftkitKernel(tf.getKernel(tf.BatchMatMul, backend));
    warmUp(tf, 1.5);
    const blas = backend === 'wasm' && blasLibrary() !== null;
    const results = runSeries(tf, backend, cases, replaced, blas);
    const ratio = (x: Result | undefined, y: Result | undefined) =>
      typeof x === 'number' && typeof y === 'number' ? `${(x / y).toFixed(1)}x` : '';
    cases.forEach((c, i) => {
      const b = results[i]?.before;
      const a = results[i]?.after;
      const n = results[i]?.blas;
      const speedup = !replaced ? 'same kernel' : ratio(a, b);
      rows.push([
        backend,
        c.label,
        c.variant,
        format(b),
        format(a),
        speedup,
        blas ? format(n) : 'no BLAS',
        ratio(n, a),
      ]);
    });
  }
  const widths = (rows[0] as string[]).map((_, col) => Math.max(...rows.map((r) => (r[col] as string).length)));
  for (const [i, row] of rows.entries()) {
    console.log(row.map((cell, col) => cell.padEnd(widths[col] as number)).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

await main();
