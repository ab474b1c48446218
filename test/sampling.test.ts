import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import {
  type SamplingOptions,
  sampleFromProbabilities,
  sampleToken,
} from '../packages/models/src/generate/sampling.ts';

// Sampling draws tokens with the probabilities softmax(logits / T) (restricted by top-k / top-p when given), whether
// it walks the ids in their own order (nothing cut off) or sorted.

const logits = Float32Array.from([2, 0.5, -1, 1.5, Number.NEGATIVE_INFINITY, 0]);

function softmax(values: Float32Array, temperature: number): number[] {
  const max = Math.max(...values);
  const e = Array.from(values, (v) => Math.exp((v - max) / temperature));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

for (const options of [
  { temperature: 0.7, topK: 0, topP: 1, repetitionPenalty: 1 },
  { temperature: 1.5, topK: 0, topP: 1, repetitionPenalty: 1 },
  { temperature: 0.7, topK: 6, topP: 1, repetitionPenalty: 1 },
]) {
  test(`sampling with ${JSON.stringify(options)} follows softmax(logits / T); -Infinity is never drawn`, () => {
    const rng = new Rng(99);
    const draws = 30000;
    const counts = new Array<number>(logits.length).fill(0);
    for (let i = 0; i < draws; i++) {
      const { id, logprob } = sampleToken(logits, options, rng, []);
      counts[id] = (counts[id] as number) + 1;
      const p = softmax(logits, options.temperature)[id] as number;
      assert.ok(Math.abs(logprob - Math.log(p)) < 1e-9, `draw ${i}: logprob of id ${id}`);
    }
    const expected = softmax(logits, options.temperature);
    for (const [id, p] of expected.entries()) {
      // binomial standard error; 5 of them is a false alarm about once in 1.7 million
      const sigma = Math.max(Math.sqrt(draws * p * (1 - p)), 1);
      const off = Math.abs((counts[id] as number) - draws * p);
      assert.ok(off <= 5 * sigma, `id ${id}: drawn ${counts[id]} times, expected ${(draws * p).toFixed(0)}`);
    }
    assert.equal(counts[4], 0, 'the -Infinity logit is never drawn');
  });
}

test('drawing from given probabilities follows them (unnormalised too); probability 0 is never drawn', () => {
  const rng = new Rng(5);
  const probs = Float32Array.from([0.2, 0, 0.5, 0.1, 0.2].map((p) => p * 3));
  const counts = new Array<number>(probs.length).fill(0);
  const draws = 30000;
  for (let i = 0; i < draws; i++) {
    const { id, logprob } = sampleFromProbabilities(probs, rng);
    counts[id] = (counts[id] as number) + 1;
    assert.ok(Math.abs(logprob - Math.log((probs[id] as number) / 3)) < 1e-6, `draw ${i}: logprob of id ${id}`);
  }
  for (const [id, raw] of probs.entries()) {
    const p = raw / 3;
    const sigma = Math.max(Math.sqrt(draws * p * (1 - p)), 1);
    assert.ok(Math.abs((counts[id] as number) - draws * p) <= 5 * sigma, `id ${id}: drawn ${counts[id]} times`);
  }
  assert.equal(counts[1], 0, 'probability 0 is never drawn');
});

test('top-p keeps the smallest set of most likely ids reaching p, top-k the k most likely; draws follow them', () => {
  const values = Float32Array.from([1, 3, 0, 2, -1]);
  const p = softmax(values, 1); // by id: ~0.087, 0.644, 0.032, 0.237, 0.012
  for (const [options, kept] of [
    [{ temperature: 1, topK: 0, topP: 0.8, repetitionPenalty: 1 }, [1, 3]], // 0.644 < 0.8 ≤ 0.881
    [{ temperature: 1, topK: 0, topP: 0.95, repetitionPenalty: 1 }, [1, 3, 0]],
    [{ temperature: 1, topK: 2, topP: 1, repetitionPenalty: 1 }, [1, 3]],
  ] as [SamplingOptions, number[]][]) {
    const rng = new Rng(17);
    const draws = 30000;
    const counts = new Array<number>(values.length).fill(0);
    for (let i = 0; i < draws; i++) {
      const { id } = sampleToken(values, options, rng, []);
      counts[id] = (counts[id] as number) + 1;
    }
    const mass = kept.reduce((sum, id) => sum + (p[id] as number), 0);
    for (let id = 0; id < values.length; id++) {
      const want = kept.includes(id) ? (p[id] as number) / mass : 0;
      const sigma = Math.max(Math.sqrt(draws * want * (1 - want)), 1);
      const label = `${JSON.stringify(options)} id ${id}: drawn ${counts[id]}, expected ${(draws * want).toFixed(0)}`;
      assert.ok(Math.abs((counts[id] as number) - draws * want) <= 5 * sigma, label);
    }
  }
});
