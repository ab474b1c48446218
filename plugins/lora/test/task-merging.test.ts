import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, perturb } from '@peftkit/testing';
import lora, { addWeightedAdapter, magnitudePrune, mergeTaskTensors, randomPrune } from '@peftkit/lora';

// PEFT's task-vector merges (ties, dare_linear, dare_ties, magnitude_prune) on hand-worked examples, and through
// add_weighted_adapter on real LoRA adapters.

const f = (xs: number[]) => Float32Array.from(xs);
const opts = (density: number, method: 'total' | 'frequency' = 'total') => ({
  density,
  majoritySignMethod: method,
  rng: new Rng(1),
});

test('magnitude pruning keeps the int(density·n) largest |values|', () => {
  assert.deepEqual(Array.from(magnitudePrune(f([0.1, -3, 2, -0.5, 1]), 0.4)), [0, -3, 2, 0, 0], 'two of five kept');
  assert.deepEqual(Array.from(magnitudePrune(f([1, 2]), 1)), [1, 2], 'density 1 keeps everything');
});

test('DARE random pruning keeps entries with probability density and rescales them by 1/density', () => {
  const values = Float32Array.from({ length: 4000 }, (_, i) => 1 + (i % 7));
  const pruned = randomPrune(values, 0.25, new Rng(9));
  let kept = 0;
  for (const [i, v] of pruned.entries()) {
    if (v === 0) continue;
    kept++;
    assert.equal(v, (values[i] as number) * 4, `entry ${i} rescaled by 1/density`);
  }
  assert.ok(Math.abs(kept / values.length - 0.25) < 0.03, `kept share ${kept / values.length}`);
  assert.deepEqual(randomPrune(values, 0.25, new Rng(9)), pruned, 'seeded: reproducible');
});

test('TIES elects a sign per entry and averages the agreeing weighted entries (hand-worked)', () => {
  const t1 = f([1, -2, 3, 0]);
  const t2 = f([-1, -1, 2, 4]);
  // column sums 0, -3, 5, 4 → signs +, -, +, +; zeros never agree
  assert.deepEqual(Array.from(mergeTaskTensors([t1, t2], [1, 1], 'ties', opts(1))), [1, -1.5, 2.5, 4], 'total');
  assert.deepEqual(
    Array.from(mergeTaskTensors([t1, t2], [2, 1], 'ties', opts(1))),
    [2, -2.5, 4, 4],
    'weights scale the kept entries',
  );
  // frequency: sign counts 0, -2, 2, 1 → same election here, but a large minority value no longer wins
  assert.deepEqual(
    Array.from(mergeTaskTensors([f([5]), f([-1]), f([-1])], [1, 1, 1], 'ties', opts(1, 'frequency'))),
    [-1],
    'frequency',
  );
  assert.deepEqual(
    Array.from(mergeTaskTensors([f([5]), f([-1]), f([-1])], [1, 1, 1], 'ties', opts(1, 'total'))),
    [5],
    'total',
  );
  assert.deepEqual(
    Array.from(mergeTaskTensors([t1, t2], [1, 1], 'magnitude_prune', opts(0.5))),
    [0, -2, 5, 4],
    'prune then sum',
  );
});

test(
  'add_weighted_adapter: dare_linear at density 1 equals linear; ties and dare_ties build adapters; ' +
    'bad inputs are coded errors',
  async () => {
    const kernel = await createKernel({ logger: { warn() {}, info() {} } });
    kernel.use(lora);
    const tf = kernel.tf;
    const model = createTinyLlama(tf, { seed: 2 });
    const manager = kernel.adapters(model);
    for (const [name, seed] of [
      ['x', 3],
      ['y', 4],
    ] as const) {
      perturb(
        tf,
        manager.create(name, 'lora', { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] }).handle
          .trainableVariables,
        seed,
        0.3,
      );
    }
    const values = (name: string) => manager.trainableVariables(name).map((v) => Array.from(v.dataSync()));
    addWeightedAdapter(manager, { adapters: ['x', 'y'], weights: [0.7, 0.3], name: 'lin', combination: 'linear' });
    addWeightedAdapter(manager, {
      adapters: ['x', 'y'],
      weights: [0.7, 0.3],
      name: 'dare1',
      combination: 'dare_linear',
      density: 1,
    });
    const [a, b] = [values('lin'), values('dare1')];
    for (const [i, row] of a.entries()) {
      for (const [j, v] of row.entries())
        assert.ok(Math.abs(v - (b[i]?.[j] as number)) < 1e-6, `variable ${i}[${j}]: ${v} vs ${b[i]?.[j]}`);
    }
    addWeightedAdapter(manager, {
      adapters: ['x', 'y'],
      weights: [1, 1],
      name: 'ties',
      combination: 'ties',
      density: 0.5,
    });
    const zeros = values('ties')
      .flat()
      .filter((v) => v === 0).length;
    assert.ok(zeros > 0, 'ties pruned entries');
    addWeightedAdapter(manager, {
      adapters: ['x', 'y'],
      weights: [1, 1],
      name: 'dt',
      combination: 'dare_ties',
      density: 0.5,
      seed: 3,
      majoritySignMethod: 'frequency',
    });
    const out = tf.tidy(() => model.forward({ ids: [[1, 2, 3, 4]] }, { selection: { perRow: ['dt'] } }).dataSync());
    assert.ok(Array.from(out).every(Number.isFinite), 'the merged adapter runs');
    const coded = (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_COMBINATION');
    assert.throws(
      () =>
        addWeightedAdapter(manager, {
          adapters: ['x', 'y'],
          weights: [1, -1],
          name: 'neg',
          combination: 'ties',
          density: 0.5,
        }),
      coded,
      'negative weight',
    );
    assert.throws(
      () =>
        addWeightedAdapter(manager, {
          adapters: ['x', 'y'],
          weights: [1, 1],
          name: 'd0',
          combination: 'dare_linear',
          density: 0,
        }),
      coded,
      'density 0',
    );
    assert.equal(manager.has('neg') || manager.has('d0'), false, 'refused merges leave nothing behind');
    manager.dispose();
    model.dispose();
  },
);
