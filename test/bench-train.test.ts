import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastJsonLine } from '../bench/peer/python.ts';
import { bestPeer, bestRow, parseTrainBenchSettings, rowSettings } from '../bench/train.ts';
import { TRAIN_METHODS } from '../bench/train-methods.ts';
import {
  isReferenceBlas,
  type PeerBlas,
  type PeerStatus,
  ratioCell,
  trainChartSvg,
  trainTable,
} from '../bench/train-report.ts';
import { runTrainRow, type TrainRowSettings } from '../bench/train-step.ts';

// Smoke test of the training bench harness on a tiny Llama: rows run through the core loop, skip with a reason,
// and the report refuses ratios against reference BLAS. No timing assertions.
const TINY: Omit<TrainRowSettings, 'method'> = {
  hidden: 16,
  layers: 1,
  heads: 2,
  intermediate: 32,
  vocab: 64,
  seq: 8,
  batch: 2,
  steps: 2,
};

test(
  'bench train rows: LoRA and full measure through the core loop with the expected shapes and no ' + 'leaks',
  async () => {
    const lora = await runTrainRow({ ...TINY, method: 'lora' });
    assert.equal(lora.skipped, undefined, `lora row must run, got skipped: ${lora.skipped}`);
    // r · (in + out) per target, q_proj and v_proj, one layer: derived from the LoRA definition, not from the code.
    assert.equal(lora.trainableParams, 8 * (16 + 16) * 2, 'LoRA r=8 on q,v trains r·(in+out) per projection');
    assert.equal(lora.tokensPerStep, TINY.batch * TINY.seq, 'tokens per step is batch × seq');
    assert.equal(lora.stepSeconds?.length, TINY.steps, 'one timing per measured step (the warm-up excluded)');
    assert.ok((lora.tokensPerSecond ?? 0) > 0, 'tokens/s is positive');
    assert.ok(Number.isFinite(lora.firstLoss) && Number.isFinite(lora.lastLoss), 'losses are finite');
    assert.equal(lora.leakedTensors, 0, 'training rows leak no tensors');
    assert.ok((lora.peakRssBytes ?? 0) > 2 ** 20, 'peak RSS is reported in bytes');
    const full = await runTrainRow({ ...TINY, method: 'full' });
    assert.equal(full.skipped, undefined, `full row must run, got skipped: ${full.skipped}`);
    assert.equal(full.trainableParams, full.totalParams, 'full fine-tuning trains every parameter');
  },
);

test('bench train rows: every method row either measures or says why it is skipped', async () => {
  for (const method of TRAIN_METHODS) {
    if (method.name === 'lora' || method.name === 'full') continue;
    const row = await runTrainRow({ ...TINY, method: method.name });
    if (row.skipped !== undefined) {
      assert.ok(row.skipped.length > 0, `${method.name}: a skipped row carries a reason`);
      continue;
    }
    assert.equal(row.stepSeconds?.length, TINY.steps, `${method.name}: one timing per measured step`);
    assert.equal(row.leakedTensors, 0, `${method.name}: no leaked tensors`);
    assert.ok((row.trainableParams ?? 0) > 0, `${method.name}: trainable params reported`);
  }
  const unknown = await runTrainRow({ ...TINY, method: 'no-such-method' });
  assert.match(unknown.skipped ?? '', /unknown method/, 'an unknown method is skipped with the reason');
});

const openblas: PeerBlas = {
  torch: '1.13.1',
  threads: 2,
  blas: 'openblas',
  libraries: ['/usr/lib/libopenblas.so.0'],
  matmulGflops: 100,
};
const measured = (method: string, tokensPerSecond: number) => ({
  method,
  tokensPerSecond,
  stepSeconds: [1],
  trainableParams: 1,
  peakRssBytes: 2 ** 20,
});

test('bench train report: ratio is peftkit ÷ PyTorch with an optimized BLAS and refused against reference BLAS', () => {
  const peer: PeerStatus = { ran: true, blas: openblas, rows: [measured('lora', 40)] };
  assert.equal(ratioCell(measured('lora', 10), peer), '0.25x', '10 / 40 tokens/s is 0.25x');
  const reference: PeerStatus = {
    ran: true,
    blas: { ...openblas, blas: 'reference', matmulGflops: 3 },
    rows: [measured('lora', 40)],
  };
  assert.ok(isReferenceBlas(reference.ran ? reference.blas : openblas), 'reference BLAS is recognised');
  assert.match(ratioCell(measured('lora', 10), reference), /refused/, 'no ratio against reference BLAS');
  assert.equal(ratioCell(measured('lora', 10), { ran: false, reason: 'absent' }), 'no peer', 'no ratio without a peer');
  const table = trainTable([measured('lora', 10), { method: 'qlora', skipped: 'not ready' }], peer);
  assert.match(table, /\| qlora +\| skipped/, 'skipped rows stay in the table');
  assert.match(table, /not ready/, 'the skip reason is printed');
});

test('bench train report: the SVG has one bar per measured row and peer row', () => {
  const peer: PeerStatus = { ran: true, blas: openblas, rows: [measured('lora', 40)] };
  const svg = trainChartSvg(
    [measured('lora', 10), measured('full', 5), { method: 'x', skipped: 'n/a' }],
    peer,
    'a < b',
  );
  assert.equal(svg.match(/<rect /g)?.length, 3, 'lora, lora (PyTorch) and full bars');
  assert.match(svg, /a &lt; b/, 'the title is escaped');
  assert.ok(svg.startsWith('<svg') && svg.trim().endsWith('</svg>'), 'a complete SVG document');
});

test('bench train settings: defaults, --quick, flags and bad input', () => {
  const d = parseTrainBenchSettings([]);
  assert.deepEqual([d.seq, d.batch, d.steps, d.peer], [256, 8, 3, true], 'full-size defaults');
  assert.deepEqual(
    d.methods,
    TRAIN_METHODS.map((m) => m.name),
    'every method by default',
  );
  const q = parseTrainBenchSettings(['--quick', '--batch', '4', '--no-peer', '--methods', 'lora']);
  assert.deepEqual(
    [q.seq, q.batch, q.steps, q.peer, q.methods],
    [32, 4, 1, false, ['lora']],
    'quick sizes with explicit overrides',
  );
  assert.throws(() => parseTrainBenchSettings(['--seq', '0']), /positive integer/, 'zero seq rejected');
  assert.throws(() => parseTrainBenchSettings(['--methods', 'lora,nope']), /unknown method/, 'unknown method rejected');
  const row = rowSettings('lora', d);
  assert.deepEqual(
    [row.hidden, row.layers, row.heads, row.intermediate, row.vocab],
    [288, 6, 6, 768, 32000],
    'stories15M shape',
  );
});

test('bench train child output: the JSON line is found, a crash becomes a skip reason', () => {
  assert.deepEqual(
    lastJsonLine('noise\n{"method":"lora"}\n', '', 0, null),
    { method: 'lora' },
    'last JSON line parsed',
  );
  const crashed = lastJsonLine<{ method: string }>('', 'line\nRangeError: out of memory\n', 134, null);
  assert.ok('skipped' in crashed && /out of memory/.test(crashed.skipped), 'the error line is kept as the reason');
});

test('bench train rounds: --rounds parses; each side keeps its best round, skipped only when never measured', () => {
  assert.equal(parseTrainBenchSettings([]).rounds, 1, 'one round by default');
  assert.equal(parseTrainBenchSettings(['--rounds', '3']).rounds, 3, '--rounds 3');
  assert.throws(() => parseTrainBenchSettings(['--rounds', '0']), /positive integer/, 'zero rounds rejected');
  const best = bestRow([measured('lora', 10), { method: 'lora', skipped: 'oom' }, measured('lora', 12)]);
  assert.equal(best.tokensPerSecond, 12, 'the fastest measured round');
  assert.equal(bestRow([{ method: 'lora', skipped: 'oom' }]).skipped, 'oom', 'a row never measured stays skipped');
  const peer = bestPeer([
    { ran: true, blas: openblas, rows: [measured('lora', 40), measured('full', 30)] },
    { ran: true, blas: openblas, rows: [measured('lora', 35), measured('full', 33)] },
  ]);
  assert.ok(peer.ran, 'the peer ran');
  assert.deepEqual(
    peer.ran ? peer.rows.map((r) => [r.method, r.tokensPerSecond]) : [],
    [
      ['lora', 40],
      ['full', 33],
    ],
    'best per method across rounds',
  );
});
