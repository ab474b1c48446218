/**
 * Training throughput per PEFT method against PyTorch: step tokens/s and peak RSS of each method on a random-weight
 * Llama shaped like stories15M, every row in its own process (bench/train-step.ts) so peak RSS is its own, and the
 * same full / LoRA steps in PyTorch (bench/peer/train_step.py) when python3 has torch.
 *
 * Usage: node --import tsx bench/train.ts [--quick] [--seq 256] [--batch 8] [--steps 3] [--methods full,lora,...]
 *        [--backend wasm] [--no-peer] [--rounds 1] [--row-timeout-s 900] [--out bench/results/train-<stamp>.json]
 * --quick: seq 32, batch 2, 1 measured step (a CI-sized run of the harness, not a measurement).
 * --rounds N: N rounds in ABBA order (peftkit then PyTorch, then PyTorch then peftkit, …) so that neither side always
 * runs on the busier half of a shared machine; the table keeps each side's best round, the JSON has every round.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBlas } from '@peftkit/adapters';
import { LORA_CONFIG, TRAIN_METHODS } from './train-methods.ts';
import { lastJsonLine, PEER_INSTALL_HINT, peerThreadOptions, probePeer, runPeerScript } from './peer/python.ts';
import { isReferenceBlas, type PeerStatus, trainChartSvg, trainTable } from './train-report.ts';
import type { TrainRowResult, TrainRowSettings } from './train-step.ts';

export interface TrainBenchSettings {
  methods: string[];
  backend: string;
  seq: number;
  batch: number;
  steps: number;
  peer: boolean;
  rowTimeoutS: number;
  rounds: number;
  out: string;
}

function option(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

function positiveInt(argv: readonly string[], name: string, fallback: number): number {
  const raw = option(argv, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} takes a positive integer, got '${raw}'`);
  return n;
}

export function parseTrainBenchSettings(argv: readonly string[], now = new Date()): TrainBenchSettings {
  const quick = argv.includes('--quick');
  const stamp = now.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const root = fileURLToPath(new URL('..', import.meta.url));
  const methods = (option(argv, 'methods') ?? TRAIN_METHODS.map((m) => m.name).join(',')).split(',').filter(Boolean);
  const unknown = methods.filter((m) => !TRAIN_METHODS.some((t) => t.name === m));
  if (unknown.length > 0)
    throw new Error(`unknown method(s) ${unknown.join(', ')} (known: ${TRAIN_METHODS.map((m) => m.name).join(', ')})`);
  return {
    methods,
    backend: option(argv, 'backend') ?? 'wasm',
    seq: positiveInt(argv, 'seq', quick ? 32 : 256),
    batch: positiveInt(argv, 'batch', quick ? 2 : 8),
    steps: positiveInt(argv, 'steps', quick ? 1 : 3),
    peer: !argv.includes('--no-peer'),
    rowTimeoutS: positiveInt(argv, 'row-timeout-s', 900),
    rounds: positiveInt(argv, 'rounds', 1),
    out: resolve(option(argv, 'out') ?? `${root}bench/results/train-${stamp}.json`),
  };
}

/** stories15M's shape (llama2.c): dim 288, 6 layers, 6 heads (= kv heads), hidden 768, vocab 32000. */
export function rowSettings(method: string, s: TrainBenchSettings): TrainRowSettings {
  return {
    method,
    backend: s.backend,
    hidden: 288,
    layers: 6,
    heads: 6,
    intermediate: 768,
    vocab: 32000,
    seq: s.seq,
    batch: s.batch,
    steps: s.steps,
  };
}

function runRow(settings: TrainRowSettings, timeoutS: number): TrainRowResult {
  const script = fileURLToPath(new URL('./train-step.ts', import.meta.url));
  const r = spawnSync(
    process.execPath,
    ['--conditions=peftkit:source', '--import', 'tsx', script, JSON.stringify(settings)],
    {
      encoding: 'utf8',
      timeout: timeoutS * 1000,
      maxBuffer: 64 * 2 ** 20,
    },
  );
  const parsed = lastJsonLine<TrainRowResult>(r.stdout ?? '', r.stderr ?? '', r.status, r.signal);
  return 'method' in parsed ? parsed : { method: settings.method, skipped: parsed.skipped };
}

/** Runs the PyTorch peer rows (full, LoRA) when python3 imports torch; never installs anything. */
export function runPeer(s: TrainBenchSettings, ranMethods: readonly string[]): PeerStatus {
  if (!s.peer) return { ran: false, reason: 'disabled (--no-peer)' };
  const probe = probePeer();
  if ('reason' in probe) return { ran: false, reason: probe.reason };
  const { exe, blas } = probe;
  const rows: TrainRowResult[] = [];
  for (const method of TRAIN_METHODS) {
    if (method.peer === undefined || !ranMethods.includes(method.name)) continue;
    const settings = { ...rowSettings(method.peer, s), lora: LORA_CONFIG };
    console.error(`[train] PyTorch ${method.name} …`);
    // The best of the thread settings (see peerThreadOptions); every run is kept in the JSON.
    const runs = peerThreadOptions().map((threads) =>
      runPeerScript<TrainRowResult>(exe, 'train_step.py', settings, s.rowTimeoutS, threads),
    );
    const measured = runs.filter((r): r is TrainRowResult => 'method' in r && r.tokensPerSecond !== undefined);
    const best = measured.length > 0 ? bestRow(measured) : undefined;
    const failed = runs.find((r): r is { skipped: string } => 'skipped' in r);
    const others = measured
      .filter((r) => r !== best)
      .map((r) => ({ threads: r.threads, tokensPerSecond: r.tokensPerSecond }));
    rows.push(
      best
        ? { ...best, method: method.name, otherThreadRuns: others }
        : { method: method.name, skipped: failed?.skipped ?? 'no result' },
    );
  }
  return { ran: true, blas, rows };
}

/** The fastest measured run of one method (a skipped row only when none was measured). */
export function bestRow(runs: readonly TrainRowResult[]): TrainRowResult {
  const measured = runs.filter((r) => r.tokensPerSecond !== undefined);
  return measured.reduce(
    (a, r) => ((r.tokensPerSecond as number) > (a.tokensPerSecond as number) ? r : a),
    measured[0] ?? (runs[0] as TrainRowResult),
  );
}

/** Each method's best peer row over the rounds (the BLAS report of the first round that ran). */
export function bestPeer(statuses: readonly PeerStatus[]): PeerStatus {
  const ran = statuses.filter((p): p is Extract<PeerStatus, { ran: true }> => p.ran);
  const first = ran[0];
  if (first === undefined) return statuses[0] ?? { ran: false, reason: 'no rounds' };
  const rows = first.rows.map((row) => bestRow(ran.map((p) => p.rows.find((r) => r.method === row.method) ?? row)));
  return { ran: true, blas: first.blas, rows };
}

export function machine() {
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    // The BLAS peftkit's wasm kernels use (rows run in child processes with the same environment).
    blas: describeBlas(),
  };
}

async function main(): Promise<void> {
  const s = parseTrainBenchSettings(process.argv.slice(2));
  const started = machine();
  console.error(
    `[train] stories15M-shaped random Llama, seq ${s.seq}, batch ${s.batch}, 1 warm-up + ${s.steps} steps, ` +
      `backend ${s.backend}; load average ${started.loadavg.join(' ')}`,
  );
  const rounds: { rows: TrainRowResult[]; peer: PeerStatus }[] = [];
  for (let round = 0; round < s.rounds; round++) {
    const peerFirst = round % 2 === 1;
    const first = peerFirst ? runPeer(s, s.methods) : undefined;
    const rows = s.methods.map((method) => {
      console.error(`[train] peftkit ${method}${s.rounds > 1 ? ` (round ${round + 1})` : ''} …`);
      const row = runRow(rowSettings(method, s), s.rowTimeoutS);
      if (row.skipped !== undefined) console.error(`[train] ${method} skipped: ${row.skipped}`);
      return row;
    });
    // The peer runs even where peftkit's row failed: its numbers stand on their own.
    rounds.push({ rows, peer: first ?? runPeer(s, s.methods) });
  }
  const rows = s.methods.map((_, i) => bestRow(rounds.map((r) => r.rows[i] as TrainRowResult)));
  const peer = bestPeer(rounds.map((r) => r.peer));
  if (!peer.ran) console.error(`[train] PyTorch peer skipped: ${peer.reason}`);
  else if (isReferenceBlas(peer.blas))
    console.error(
      `[train] torch uses ${peer.blas.blas} BLAS (${peer.blas.matmulGflops.toFixed(1)} GFLOP/s): ` +
        `no ratio printed; ${PEER_INSTALL_HINT}`,
    );
  console.log(trainTable(rows, peer));
  if (peer.ran)
    console.log(
      `PyTorch ${peer.blas.torch}, threads ${peer.rows.map((r) => `${r.method} ${r.threads ?? '?'}`).join(', ')} ` +
        `(best of ${peerThreadOptions().join(' and ')} threads), ` +
        `BLAS ${peer.blas.blas} (${peer.blas.libraries.join(', ') || 'no BLAS library mapped'}), ` +
        `1024² matmul ${peer.blas.matmulGflops.toFixed(1)} GFLOP/s`,
    );
  const ended = machine();
  console.log(
    `load average: ${started.loadavg.join(' ')} at start, ${ended.loadavg.join(' ')} at end (${ended.cpus} CPUs)`,
  );
  console.log(`peftkit BLAS: ${ended.blas}`);
  const report = {
    bench: 'train',
    date: new Date().toISOString(),
    machine: { ...ended, loadavgAtStart: started.loadavg },
    settings: { ...s, out: undefined },
    rows,
    peer,
    rounds,
  };
  mkdirSync(dirname(s.out), { recursive: true });
  writeFileSync(s.out, `${JSON.stringify(report, null, 2)}\n`);
  const svg = s.out.replace(/\.json$/, '.svg');
  writeFileSync(
    svg,
    trainChartSvg(
      rows,
      peer,
      `Training tokens/s, stories15M-shaped Llama, seq ${s.seq} × batch ${s.batch} (load ${started.loadavg[0]})`,
    ),
  );
  console.error(`[train] wrote ${s.out} and ${svg}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
