/**
 * Before/after of the decode speed-ups in one process, interleaved, best of N (the bench machine is shared, so
 * separate runs drift more than the effect). "before" restores, for the duration of a measurement:
 *  - DenseLinearBase.forward as x·Wᵀ with a transposed weight for every row count (the wasm kernel then copies
 *    and re-packs the whole weight on each call), and
 *  - full-sequence logits (the generator's `lastPosition` request is dropped).
 * Usage: node --import tsx bench/inference-ab.ts [--backends wasm] [--models 260k,15m] [--batches 1,8]
 *        [--prompt 64] [--new-tokens 32] [--max-cell-s 8] [--rounds 3]
 */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import type { ForwardInput, ForwardOptions } from '../core/src/model/forward.ts';
import { DenseLinearBase } from '../core/src/model/linear.ts';
import { createTensorRuntime } from '../test/support/runtime.ts';
import type { Tf } from '../core/src/runtime/types.ts';
import { type InferenceCell, measureCell, parseSettings } from './inference.ts';
import { type BenchModel, stories15MRandom, stories260K } from './inference-models.ts';

const optimisedForward = DenseLinearBase.prototype.forward;
let previousTf: Tf;
/** The forward before the change (every Llama linear is stored [out, in]). */
function previousForward(this: DenseLinearBase, x: Tensor2D): Tensor2D {
  const y = previousTf.matMul(x, this.weight as Tensor2D, false, true) as Tensor2D;
  return this.bias === null ? y : (previousTf.add(y, this.bias) as Tensor2D);
}

function asBefore(bench: BenchModel): BenchModel {
  const model = bench.model;
  const wrapped = Object.create(model) as typeof model;
  wrapped.forward = (input: ForwardInput, options: ForwardOptions = {}) =>
    model.forward(input, { ...options, lastPosition: false });
  return { ...bench, model: wrapped };
}

function best(a: InferenceCell | undefined, b: InferenceCell): InferenceCell {
  if (a === undefined) return b;
  return {
    ...a,
    prefillTokensPerSecond: Math.max(a.prefillTokensPerSecond, b.prefillTokensPerSecond),
    decodeTokensPerSecond: Math.max(a.decodeTokensPerSecond, b.decodeTokensPerSecond),
    decodeStepMs: Math.min(a.decodeStepMs || Number.POSITIVE_INFINITY, b.decodeStepMs || Number.POSITIVE_INFINITY),
    decodeSteps: Math.max(a.decodeSteps, b.decodeSteps),
    leakedTensors: Math.max(a.leakedTensors, b.leakedTensors),
  };
}

const argv = process.argv.slice(2);
const s = parseSettings(argv);
const roundsAt = argv.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(argv[roundsAt + 1]) : 3;
const rows: string[] = [
  '| model | backend | batch | kv cache | prefill tok/s before → after | decode tok/s before → after |',
  '|---|---|---|---|---|---|',
];
for (const backend of s.backends) {
  const { tf } = await createTensorRuntime({ backend });
  previousTf = tf;
  for (const name of s.models) {
    const bench = name === '260k' ? await stories260K(tf) : await stories15MRandom(tf);
    if (bench === undefined) continue;
    const before = asBefore(bench);
    try {
      for (const batch of s.batches) {
        measureCell(tf, bench, backend, batch, true, { ...s, newTokens: 3 });
        for (const cache of [true, false]) {
          let b: InferenceCell | undefined;
          let a: InferenceCell | undefined;
          for (let round = 0; round < rounds; round++) {
            DenseLinearBase.prototype.forward = previousForward;
            try {
              b = best(b, measureCell(tf, before, backend, batch, cache, s));
            } finally {
              DenseLinearBase.prototype.forward = optimisedForward;
            }
            a = best(a, measureCell(tf, bench, backend, batch, cache, s));
          }
          const f = (x: number, d: number) => (x === 0 ? 'skipped' : x.toFixed(d));
          const line =
            `| ${bench.name} | ${backend} | ${batch} | ${cache ? 'yes' : 'no'} | ` +
            `${f(b?.prefillTokensPerSecond ?? 0, 0)} → ${f(a?.prefillTokensPerSecond ?? 0, 0)} | ` +
            `${f(b?.decodeTokensPerSecond ?? 0, 1)} → ${f(a?.decodeTokensPerSecond ?? 0, 1)} |`;
          rows.push(line);
          console.error(line);
        }
      }
    } finally {
      await bench.dispose();
    }
  }
}
console.log(rows.join('\n'));
