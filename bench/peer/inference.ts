/**
 * Inference next to PyTorch: prefill and decode tokens/s (greedy, KV cache) for the base model, merged LoRA,
 * unmerged LoRA and prefix tuning on the random stories15M-shaped Llama, measured by bench/inference.ts's
 * `measureCell` (helper H's bench) and by bench/peer/infer.py with the same shapes. Ratios are peftkit ÷ PyTorch,
 * refused when torch uses the reference BLAS.
 *
 * Usage: node --import tsx bench/peer/inference.ts [--quick] [--backend wasm] [--batches 1,8] [--prompt 64]
 *        [--new-tokens 32] [--max-cell-s 15] [--no-peer] [--out bench/results/peer-inference-<stamp>.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { LlamaModel } from '@peftkit/models';
import lora from '@peftkit/lora';
import type { ForwardInput, ForwardOptions } from '../../core/src/model/forward.ts';
import { type InferenceCell, measureCell, parseSettings } from '../inference.ts';
import { type BenchModel, STORIES15M_CONFIG } from '../inference-models.ts';
import { machine } from '../train.ts';
import { LORA_CONFIG } from '../train-methods.ts';
import { type Bar, barChartSvg, formatTable, isReferenceBlas, type PeerBlas } from '../train-report.ts';
import { peerThreadOptions, probePeer, runPeerScript } from './python.ts';

export const VARIANTS = ['base', 'lora-merged', 'lora-unmerged', 'prefix-tuning'] as const;
export type Variant = (typeof VARIANTS)[number];
const VIRTUAL_TOKENS = 20;

export interface PeerCell {
  variant: Variant;
  batch: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  decodeSteps: number;
}

/** The same model with every forward routed through `active` (unmerged adapters are selected per call). */
function selecting(bench: BenchModel, active: string[] | undefined): BenchModel {
  if (active === undefined) return bench;
  const model = bench.model;
  const wrapped = Object.create(model) as typeof model;
  wrapped.forward = (input: ForwardInput, options: ForwardOptions = {}) =>
    model.forward(input, { ...options, selection: { active } });
  return { ...bench, model: wrapped };
}

/**
 * peftkit's cells, `rounds` times over after one untimed pass (each cell keeps its best prefill and best decode, as
 * the peer keeps the best of its thread settings).
 */
async function measurePeftkit(
  argv: string[],
  batches: number[],
  rounds: number,
): Promise<{ backend: string; cells: (InferenceCell & { variant: Variant })[] }> {
  const s = parseSettings(argv);
  const plugins: unknown[] = [lora];
  const prefix = await import('@peftkit/prefix-tuning').then((m) => m.default as unknown).catch(() => undefined);
  if (prefix !== undefined) plugins.push(prefix);
  const backend = s.backends[0] ?? 'wasm';
  const kernel = await createKernel({ backend, plugins, logger: { warn() {}, info() {} } });
  const tf = kernel.tf;
  const model = new LlamaModel(tf, STORIES15M_CONFIG, { kind: 'random', rng: new Rng(15), std: 0.02 });
  const manager = kernel.adapters(model);
  const vocab = STORIES15M_CONFIG.vocab_size;
  const rng = new Rng(7);
  const bench: BenchModel = {
    name: 'stories15M-shape (random)',
    model,
    tokenizer: {
      vocabSize: vocab,
      bosId: 1,
      eosId: 2,
      encode: () => [1],
      decode: (ids) => ids.map((id) => `t${id} `).join(''),
    },
    prompt: (length) => [1, ...Array.from({ length: length - 1 }, () => 3 + rng.int(vocab - 3))],
    parameters: 0,
    dispose: async () => model.dispose(),
  };
  const cells: (InferenceCell & { variant: Variant })[] = [];
  try {
    // LoRA B starts at zero in PEFT; the cost of the unmerged path does not depend on the values.
    manager.create('lora', 'lora', { ...LORA_CONFIG });
    if (prefix !== undefined) manager.create('prefix', 'prefix-tuning', { num_virtual_tokens: VIRTUAL_TOKENS });
    measureCell(tf, bench, backend, 1, true, { ...s, prompt: 8, newTokens: 4 });
    // Round 0 is an untimed pass over every cell (the peer makes one too): a cell's first run pays first-use costs
    // (heap growth, XNNPACK operators, V8's tier-up of the kernels' wasm and the JS) that a serving process pays once.
    for (let round = 0; round <= rounds; round++)
      for (const batch of batches) {
        for (const variant of VARIANTS) {
          if (variant === 'prefix-tuning' && prefix === undefined) continue;
          if (variant === 'lora-merged') manager.merge('lora', { safe: true });
          try {
            const active =
              variant === 'lora-unmerged' ? ['lora'] : variant === 'prefix-tuning' ? ['prefix'] : undefined;
            const cell = measureCell(tf, selecting(bench, active), backend, batch, true, s);
            if (round > 0) cells.push({ ...cell, variant });
            console.error(
              `[inference] peftkit ${round === 0 ? 'warm-up ' : ''}${variant} batch ${batch}: ` +
                `prefill ${cell.prefillTokensPerSecond.toFixed(0)}, ` +
                `decode ${cell.decodeTokensPerSecond.toFixed(1)} tok/s`,
            );
          } finally {
            if (variant === 'lora-merged') manager.unmerge('lora');
          }
        }
      }
  } finally {
    manager.dispose();
    await bench.dispose();
  }
  return { backend, cells: bestCells(cells) };
}

/** Per variant and batch, the best prefill and the best decode over the peer's runs. */
export function bestCells<C extends PeerCell>(cells: readonly C[]): C[] {
  const best = new Map<string, C>();
  for (const c of cells) {
    const key = `${c.variant}/${c.batch}`;
    const seen = best.get(key);
    best.set(
      key,
      seen === undefined
        ? { ...c }
        : {
            ...seen,
            prefillTokensPerSecond: Math.max(seen.prefillTokensPerSecond, c.prefillTokensPerSecond),
            decodeTokensPerSecond: Math.max(seen.decodeTokensPerSecond, c.decodeTokensPerSecond),
          },
    );
  }
  return [...best.values()];
}

function ratio(a: number, b: number | undefined, blas: PeerBlas | undefined): string {
  if (b === undefined || blas === undefined) return 'no peer';
  if (isReferenceBlas(blas)) return `refused (${blas.blas} BLAS)`;
  return b > 0 ? `${(a / b).toFixed(2)}x` : '';
}

export function inferenceTable(
  cells: readonly (InferenceCell & { variant: Variant })[],
  peer: readonly PeerCell[],
  blas: PeerBlas | undefined,
): string {
  const rows = cells.map((c) => {
    const p = peer.find((x) => x.variant === c.variant && x.batch === c.batch);
    return [
      c.variant,
      String(c.batch),
      c.prefillTokensPerSecond.toFixed(0),
      p ? p.prefillTokensPerSecond.toFixed(0) : '',
      ratio(c.prefillTokensPerSecond, p?.prefillTokensPerSecond, blas),
      c.decodeTokensPerSecond.toFixed(1),
      p ? p.decodeTokensPerSecond.toFixed(1) : '',
      ratio(c.decodeTokensPerSecond, p?.decodeTokensPerSecond, blas),
    ];
  });
  return formatTable(
    [
      'variant',
      'batch',
      'peftkit prefill tok/s',
      'PyTorch prefill',
      'ratio',
      'peftkit decode tok/s',
      'PyTorch decode',
      'ratio',
    ],
    rows,
  );
}

function option(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const defaults = quick ? ['--prompt', '16', '--new-tokens', '8', '--max-cell-s', '5'] : [];
  const settingsArgv = [...defaults, ...argv, '--backends', option(argv, 'backend') ?? 'wasm'];
  const s = parseSettings(settingsArgv);
  const batches = (option(argv, 'batches') ?? (quick ? '1' : '1,8')).split(',').map(Number);
  const started = machine();
  console.error(`[inference] load average ${started.loadavg.join(' ')}`);
  const rounds = Number(option(argv, 'rounds') ?? (quick ? '1' : '2'));
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds takes a positive integer, got ${rounds}`);
  const peftkit = await measurePeftkit(settingsArgv, batches, rounds);
  let peerCells: PeerCell[] = [];
  let blas: PeerBlas | undefined;
  let peerNote: string;
  let peerRuns: unknown[] = [];
  const probe = argv.includes('--no-peer') ? { reason: 'disabled (--no-peer)' } : probePeer();
  if ('reason' in probe) peerNote = `PyTorch peer skipped: ${probe.reason}`;
  else {
    blas = probe.blas;
    const cfg = STORIES15M_CONFIG;
    const peerSettings = {
      vocab: cfg.vocab_size,
      hidden: cfg.hidden_size,
      layers: cfg.num_hidden_layers,
      heads: cfg.num_attention_heads,
      intermediate: cfg.intermediate_size,
      prompt: s.prompt,
      newTokens: s.newTokens,
      maxCellS: s.maxCellS,
      virtualTokens: VIRTUAL_TOKENS,
      batches,
      lora: LORA_CONFIG,
    };
    console.error('[inference] PyTorch …');
    // One run per thread setting; each cell keeps PyTorch's best prefill and best decode (see peerThreadOptions).
    const runs = peerThreadOptions().map((threads) =>
      runPeerScript<{ cells: PeerCell[]; threads: number }>(probe.exe, 'infer.py', peerSettings, 1800, threads),
    );
    const ok = runs.filter((r): r is { cells: PeerCell[]; threads: number } => 'cells' in r);
    peerRuns = ok;
    if (ok.length === 0)
      peerNote = `PyTorch peer failed: ${runs.map((r) => ('skipped' in r ? r.skipped : '')).join('; ')}`;
    else {
      peerCells = bestCells(ok.flatMap((r) => r.cells));
      peerNote =
        `PyTorch ${blas.torch}, best of ${ok.map((r) => r.threads).join(' and ')} threads per cell, ` +
        `BLAS ${blas.blas}, 1024² matmul ${blas.matmulGflops.toFixed(1)} GFLOP/s`;
    }
  }
  console.log(inferenceTable(peftkit.cells, peerCells, blas));
  console.log(peerNote);
  const ended = machine();
  console.log(
    `prompt ${s.prompt}, ${s.newTokens} new tokens, backend ${peftkit.backend}; ` +
      `load average ${started.loadavg.join(' ')} at start, ${ended.loadavg.join(' ')} at end`,
  );
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const out = resolve(
    option(argv, 'out') ?? fileURLToPath(new URL(`../results/peer-inference-${stamp}.json`, import.meta.url)),
  );
  mkdirSync(dirname(out), { recursive: true });
  const report = {
    bench: 'peer-inference',
    date: new Date().toISOString(),
    machine: { ...ended, loadavgAtStart: started.loadavg },
    settings: { prompt: s.prompt, newTokens: s.newTokens, batches },
    peftkit,
    peer: { blas, cells: peerCells, runs: peerRuns, note: peerNote },
  };
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  const bars: Bar[] = [];
  for (const c of peftkit.cells) {
    bars.push({ label: `${c.variant} b${c.batch} decode (peftkit)`, value: c.decodeTokensPerSecond, peer: false });
    const p = peerCells.find((x) => x.variant === c.variant && x.batch === c.batch);
    if (p)
      bars.push({ label: `${c.variant} b${c.batch} decode (PyTorch)`, value: p.decodeTokensPerSecond, peer: true });
  }
  const svg = out.replace(/\.json$/, '.svg');
  writeFileSync(
    svg,
    barChartSvg(`Decode tokens/s with KV cache, stories15M-shaped Llama (load ${started.loadavg[0]})`, bars),
  );
  console.error(`[inference] wrote ${out} and ${svg}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
