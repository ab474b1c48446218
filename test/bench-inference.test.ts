import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DenseLinearBase, Rng, type Tf } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { LlamaModel } from '@peftkit/models';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { formatTable, type InferenceCell, measureCell, parseSettings } from '../bench/inference.ts';
import type { BenchModel } from '../bench/inference-models.ts';
import { generate } from '../packages/models/src/generate/generate.ts';
import {
  idsByLogitDescending,
  type SamplingOptions,
  sampleToken,
  topIds,
} from '../packages/models/src/generate/sampling.ts';
import type { Tokenizer } from '../core/src/model/tokenizer.ts';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf: Tf = kernel.tf;
const V = 40;
const CONFIG = {
  model_type: 'llama',
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: V,
  max_position_embeddings: 64,
  tie_word_embeddings: true,
};
const tokenizer: Tokenizer = { vocabSize: V, bosId: 1, eosId: 2, encode: () => [1], decode: (ids) => ids.join(',') };

function tinyBench(seed: number): BenchModel {
  const model = new LlamaModel(tf, CONFIG, { kind: 'random', rng: new Rng(seed), std: 0.3 });
  return {
    name: 'tiny',
    model,
    tokenizer,
    prompt: (n) => Array.from({ length: n }, (_, i) => 1 + ((i * 7) % (V - 1))),
    parameters: 0,
    dispose: async () => model.dispose(),
  };
}

test(
  'bench measureCell: positive rates, every decode step counted, no leaked tensors, ' + 'with and without cache',
  async () => {
    const bench = tinyBench(1);
    try {
      const settings = { ...parseSettings([]), prompt: 6, newTokens: 5, maxCellS: 60 };
      for (const cache of [true, false]) {
        for (const batch of [1, 3]) {
          const before = tf.memory().numTensors;
          const cell = measureCell(tf, bench, 'wasm', batch, cache, settings);
          assert.equal(
            cell.decodeSteps,
            4,
            `all ${settings.newTokens - 1} decode steps run (cache ${cache}, batch ${batch})`,
          );
          assert.ok(
            cell.prefillTokensPerSecond > 0 && Number.isFinite(cell.prefillTokensPerSecond),
            `prefill rate ${cell.prefillTokensPerSecond}`,
          );
          assert.ok(
            cell.decodeTokensPerSecond > 0 && Number.isFinite(cell.decodeTokensPerSecond),
            `decode rate ${cell.decodeTokensPerSecond}`,
          );
          assert.equal(cell.leakedTensors, 0, 'the cell reports no leak');
          assert.equal(tf.memory().numTensors, before, 'and none leaked');
        }
      }
      const capped = measureCell(tf, bench, 'wasm', 1, false, { ...settings, maxCellS: 0 });
      assert.equal(capped.decodeSteps, 0, 'a zero time cap skips decoding');
    } finally {
      await bench.dispose();
    }
  },
);

test('bench table and settings', () => {
  const cell: InferenceCell = {
    model: 'm',
    backend: 'wasm',
    batch: 8,
    cache: true,
    promptTokens: 64,
    prefillTokensPerSecond: 1234.4,
    decodeTokensPerSecond: 56.78,
    decodeStepMs: 140.9,
    decodeSteps: 31,
    leakedTensors: 0,
  };
  const table = formatTable([cell, { ...cell, cache: false, decodeSteps: 0 }]).split('\n');
  assert.equal(table.length, 4, 'header, rule and two rows');
  assert.match(
    table[2] as string,
    /\| m +\| wasm +\| 8 +\| yes +\| 1234 +\| 56\.8 +\| 140\.9 +\| 31 +\|/,
    `row: ${table[2]}`,
  );
  assert.match(table[3] as string, /\| no +\| 1234 +\| skipped +\| skipped +\|/, `skipped row: ${table[3]}`);
  const s = parseSettings(
    ['--backends', 'cpu', '--batches', '2,4', '--prompt', '16'],
    new Date('2026-01-02T03:04:05Z'),
  );
  assert.deepEqual(
    [s.backends, s.batches, s.prompt, s.newTokens],
    [['cpu'], [2, 4], 16, 64],
    'options parsed, defaults kept',
  );
  assert.match(s.out, /bench\/results\/inference-2026-01-02T03-04-05\.json$/, `default output path ${s.out}`);
  assert.throws(() => parseSettings(['--batches', '0']), /positive integers/, 'bad numbers are refused');
});

/** Plain-loop x·Wᵀ for W stored [out, in]. */
function referenceLinear(x: Float32Array, rows: number, w: Float32Array, out: number, inn: number): Float32Array {
  const y = new Float32Array(rows * out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let sum = 0;
      for (let i = 0; i < inn; i++) sum += (x[r * inn + i] as number) * (w[o * inn + i] as number);
      y[r * out + o] = sum;
    }
  }
  return y;
}

test('DenseLinearBase [out, in]: few-row and many-row paths both match a plain loop', () => {
  const rng = new Rng(5);
  const [out, inn] = [37, 29];
  const wData = rng.normalArray(out * inn);
  const bData = rng.normalArray(out);
  const base = new DenseLinearBase(
    tf,
    tf.variable(tf.tensor2d(wData, [out, inn]), false),
    'out_in',
    tf.variable(tf.tensor1d(bData), false),
  );
  try {
    for (const rows of [1, 3, 64, 65, 200]) {
      const xData = rng.normalArray(rows * inn);
      const expected = referenceLinear(xData, rows, wData, out, inn).map((v, i) => v + (bData[i % out] as number));
      const actual = tf.tidy(
        () => base.forward(tf.tensor2d(xData, [rows, inn]) as Tensor2D).dataSync() as Float32Array,
      );
      let worst = 0;
      for (let i = 0; i < expected.length; i++)
        worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
      assert.ok(worst < 1e-4, `rows ${rows}: max abs diff ${worst}`);
    }
  } finally {
    base.dispose();
  }
});

test('forward lastPosition = the last column of the full logits; greedy generation unchanged by it', () => {
  const bench = tinyBench(2);
  try {
    const ids = [
      [0, 0, 5, 9, 3, 7],
      [4, 8, 15, 16, 23, 22],
    ];
    const mask = [
      [0, 0, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1],
    ];
    const before = tf.memory().numTensors;
    const [full, last] = tf.tidy(() => {
      const f = bench.model.forward({ ids, mask });
      const l = bench.model.forward({ ids, mask }, { lastPosition: true });
      assert.deepEqual(l.shape, [2, 1, V], 'one position returned');
      return [tf.slice(f, [0, 5, 0], [-1, 1, -1]).dataSync() as Float32Array, l.dataSync() as Float32Array];
    });
    assert.equal(tf.memory().numTensors, before, 'no leak');
    let worst = 0;
    for (let i = 0; i < full.length; i++) worst = Math.max(worst, Math.abs((full[i] as number) - (last[i] as number)));
    assert.ok(worst < 1e-5, `last-position logits equal the full forward's last column (diff ${worst})`);

    // Greedy ids from the generator against an argmax loop over the full (all-position) forward.
    const prompt = [1, 5, 9, 3];
    const [result] = generate(bench.model, tokenizer, [{ ids: prompt }], {
      maxTokens: 8,
      temperature: 0,
      stopAtEos: false,
    });
    const seq = [...prompt];
    for (let step = 0; step < 8; step++) {
      const logits = tf.tidy(() => bench.model.forward({ ids: [seq] }).dataSync() as Float32Array);
      const row = logits.subarray((seq.length - 1) * V, seq.length * V);
      let best = 0;
      for (let v = 1; v < V; v++) if ((row[v] as number) > (row[best] as number)) best = v;
      seq.push(best);
    }
    assert.deepEqual(result?.ids, seq.slice(prompt.length), 'same greedy continuation');
  } finally {
    void bench.dispose();
  }
});

/**
 * The straightforward sampler (comparator sort, array maps): the reference the fast one must match exactly. With
 * nothing cut off (no top-k, no top-p) the draw walks the ids in their own order: no sort is needed there.
 */
function referenceSample(logits: Float32Array, o: SamplingOptions, rng: Rng): { id: number; logprob: number } {
  const cut = o.topK > 0 || o.topP < 1;
  let order = Array.from(logits.keys());
  if (cut) order.sort((a, b) => (logits[b] as number) - (logits[a] as number));
  const max = Math.max(...logits);
  if (o.topK > 0) order = order.slice(0, o.topK);
  let probs = order.map((id) => Math.exp(((logits[id] as number) - max) / o.temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  if (o.topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < probs.length && cumulative < o.topP * total) cumulative += probs[keep++] as number;
    order = order.slice(0, Math.max(1, keep));
    probs = probs.slice(0, Math.max(1, keep));
    total = probs.reduce((a, b) => a + b, 0);
  }
  let r = rng.next() * total;
  for (let i = 0; i < order.length; i++) {
    r -= probs[i] as number;
    if (r <= 0 || i === order.length - 1)
      return { id: order[i] as number, logprob: Math.log((probs[i] as number) / total) };
  }
  throw new Error('unreachable');
}

test('fast sampling: same order as a stable comparator sort and the same draws as the straightforward sampler', () => {
  const rng = new Rng(11);
  for (let trial = 0; trial < 20; trial++) {
    const values = new Float32Array(2000 + trial).map(() => {
      const r = rng.next();
      if (r < 0.1) return 0;
      if (r < 0.15) return -0;
      if (r < 0.2) return Number.NEGATIVE_INFINITY;
      return r < 0.4 ? Math.round(rng.normal()) : rng.normal() * 1e3;
    });
    const expected = Array.from(values.keys()).sort((a, b) => (values[b] as number) - (values[a] as number));
    assert.deepEqual(idsByLogitDescending(values), expected, `trial ${trial}: ties by id, -0 = +0, -Infinity last`);
    for (const k of [1, 7, 40, values.length + 3]) {
      assert.deepEqual(topIds(values, k), expected.slice(0, k), `trial ${trial}: top ${k} in the sort's order`);
    }
  }
  const logits = rng.normalArray(5000, 0, 3);
  const settings: SamplingOptions[] = [
    { temperature: 0.8, topK: 0, topP: 1, repetitionPenalty: 1 },
    { temperature: 0.7, topK: 40, topP: 0.9, repetitionPenalty: 1 },
    { temperature: 1.3, topK: 0, topP: 0.95, repetitionPenalty: 1 },
  ];
  for (const o of settings) {
    const a = new Rng(3);
    const b = new Rng(3);
    for (let i = 0; i < 100; i++) {
      assert.deepEqual(
        sampleToken(logits, o, a, []),
        referenceSample(logits, o, b),
        `draw ${i} with ${JSON.stringify(o)}`,
      );
    }
  }
});
