import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InferenceCell } from '../bench/inference.ts';
import { bestCells, inferenceTable, type Variant } from '../bench/peer/inference.ts';
import { PEER_INSTALL_HINT } from '../bench/peer/python.ts';
import { parseServingSettings, type ServingCell, servingTable } from '../bench/serving.ts';
import type { PeerBlas } from '../bench/train-report.ts';

// The inference-vs-PyTorch and serving benches' pure parts: settings, tables, ratio refusal. No timing assertions.
const blas: PeerBlas = { torch: '1.13.1', threads: 2, blas: 'openblas', libraries: [], matmulGflops: 100 };

function cell(variant: Variant, batch: number, prefill: number, decode: number): InferenceCell & { variant: Variant } {
  return {
    variant,
    model: 'm',
    backend: 'wasm',
    batch,
    cache: true,
    promptTokens: 8,
    prefillTokensPerSecond: prefill,
    decodeTokensPerSecond: decode,
    decodeStepMs: 1,
    decodeSteps: 3,
    leakedTensors: 0,
  };
}

test('bench peer inference table: ratios per variant and batch, refused against reference BLAS', () => {
  const peer = [
    { variant: 'base' as const, batch: 1, prefillTokensPerSecond: 200, decodeTokensPerSecond: 20, decodeSteps: 3 },
  ];
  const table = inferenceTable([cell('base', 1, 100, 30), cell('lora-unmerged', 1, 50, 10)], peer, blas);
  assert.match(
    table,
    /\| base +\| 1 +\| 100 +\| 200 +\| 0\.50x +\| 30\.0 +\| 20\.0 +\| 1\.50x +\|/,
    'prefill 100/200 and decode 30/20',
  );
  assert.match(table, /lora-unmerged .*no peer/, 'a variant without a peer cell says so');
  const refused = inferenceTable([cell('base', 1, 100, 30)], peer, { ...blas, blas: 'reference' });
  assert.doesNotMatch(refused, /0\.50x/, 'no ratio against the reference BLAS');
  assert.match(refused, /refused \(reference BLAS\)/, 'the refusal is printed');
  assert.match(
    PEER_INSTALL_HINT,
    /apt-get install -y python3-torch libopenblas0-pthread/,
    'the install hint names both packages',
  );
});

function serving(adapters: number, mode: 'mixed' | 'swap', rps: number): ServingCell {
  return {
    adapters,
    mode,
    requests: 8,
    seconds: 8 / rps,
    requestsPerSecond: rps,
    tokensPerSecond: rps * 4,
    steps: 4,
    tokensPerStep: 8,
  };
}

test('bench serving: settings defaults and the mixed ÷ swap column', () => {
  const d = parseServingSettings([]);
  assert.deepEqual(d.adapters, [1, 8, 32, 128], 'the adapter counts of the issue');
  assert.equal(d.requests, 128, 'default request count');
  const q = parseServingSettings(['--quick', '--adapters', '2,4']);
  assert.deepEqual(q.adapters, [2, 4], 'explicit adapter counts win over --quick');
  assert.throws(() => parseServingSettings(['--requests', '-1']), /positive integers/, 'bad counts rejected');
  assert.deepEqual([d.sameAdapter, d.rounds], [false, 1], 'default: requests spread over the adapters, one round');
  const same = parseServingSettings(['--same-adapter', '--rounds', '3']);
  assert.deepEqual([same.sameAdapter, same.rounds], [true, 3], '--same-adapter and --rounds are read');
  const table = servingTable([serving(8, 'mixed', 6), serving(8, 'swap', 2)]);
  assert.match(table, /\| 8 +\| mixed +\| 6\.00 .*\| 3\.00x +\|/, 'mixed 6 req/s over swap 2 req/s is 3.00x');
});

test('bench peer inference: each cell keeps the best prefill and the best decode over thread settings', () => {
  const one = {
    variant: 'base' as const,
    batch: 1,
    prefillTokensPerSecond: 100,
    decodeTokensPerSecond: 5,
    decodeSteps: 3,
  };
  const two = { ...one, prefillTokensPerSecond: 80, decodeTokensPerSecond: 9 };
  const other = { ...one, batch: 8, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1 };
  const best = bestCells([one, two, other]);
  assert.equal(best.length, 2, 'one cell per variant and batch');
  const b1 = best.find((c) => c.batch === 1);
  assert.deepEqual([b1?.prefillTokensPerSecond, b1?.decodeTokensPerSecond], [100, 9], 'max of each metric');
});
