import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AdapterManager, Rng } from '@peftkit/core';
import { createTestKernel as createKernel, createTinyLlama, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import lora from '@peftkit/lora';
import { LoraSiteBatcher } from '../src/batch.ts';

// Mixed batches through the batched LoRA path (one product per site): each row equals its adapter run alone,
// across ranks and targets; DoRA and training dropout fall back to the per-adapter path; gradients match.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(lora);
const tf = kernel.tf;
const ids = tinyBatch(6, 5, 11);
type Model = ReturnType<typeof createTinyLlama>;
type Selection = { active: string[] } | { perRow: (string | null)[] };

/** Counts batched site applications, to tell which path ran. */
let batched = 0;
const original = LoraSiteBatcher.prototype.applyRows;
LoraSiteBatcher.prototype.applyRows = function (this: LoraSiteBatcher, ...args: Parameters<typeof original>) {
  batched++;
  return original.apply(this, args);
};

function rows(model: Model, selection: Selection, input = ids): Float32Array[] {
  const t = model.forward({ ids: input }, { selection });
  const out = (t.arraySync() as number[][][]).map((r) => Float32Array.from(r.flat()));
  t.dispose();
  return out;
}

function setup(configs: Record<string, Record<string, unknown>>): { model: Model; manager: AdapterManager } {
  const model = createTinyLlama(tf, { seed: 7 });
  const manager = kernel.adapters(model);
  for (const [i, [name, config]] of Object.entries(configs).entries()) {
    perturb(tf, manager.create(name, 'lora', config).handle.trainableVariables, i + 1, 0.3);
  }
  return { model, manager };
}

/** Each row of the mixed forward against the same row under its adapter alone (or the base). */
function assertMatchesAlone(model: Model, perRow: (string | null)[]): void {
  const mixed = rows(model, { perRow });
  const alone = perRow.map((name, r) => rows(model, { active: name === null ? [] : [name] })[r] as Float32Array);
  // The two paths sum in different orders (one product for all rows vs a SIMD pass per row, scalings up to 8):
  // float32 rounding differs by ~1e-7 per product and grows through the layers, so the bound is relative to the
  // logits (measured: up to 6e-6 of them; a wrong adapter row is off by orders of magnitude more).
  const scale = Math.max(1, ...alone.map((row) => Math.max(...row.map(Math.abs))));
  const diff = maxAbsDiff(mixed, alone);
  assert.ok(diff < 1e-5 * scale, `mixed ${perRow.join(',')}: ${diff} at logits up to ${scale}`);
}

test('a mixed batch of LoRA adapters with different ranks, scalings and targets equals each adapter alone', () => {
  const { model, manager } = setup({
    a: { r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] },
    b: { r: 8, lora_alpha: 8, target_modules: ['q_proj', 'o_proj', 'down_proj'] },
    c: { r: 4, lora_alpha: 16, use_rslora: true, target_modules: 'all-linear' },
  });
  batched = 0;
  assertMatchesAlone(model, ['a', 'b', null, 'c', 'a', 'b']);
  assert.ok(batched > 0, 'the batched path ran');
  assertMatchesAlone(model, [null, 'c', null, null, null, null]);
  // An update to A/B is seen by the next forward (the stacks are built per call).
  perturb(tf, manager.get('b').handle.trainableVariables, 9, 0.3);
  assertMatchesAlone(model, ['b', 'a', 'b', 'c', null, 'c']);
  manager.delete('a');
  assertMatchesAlone(model, ['b', 'c', null, 'b', 'c', 'b']);
  manager.dispose();
  model.dispose();
});

test('mixed forwards keep no tensors: counts stay flat, and deleting the adapters restores them', () => {
  const model = createTinyLlama(tf, { seed: 7 });
  const manager = kernel.adapters(model);
  const before = tf.memory().numTensors;
  for (const [i, name] of ['a', 'b'].entries())
    perturb(tf, manager.create(name, 'lora', { r: 2 + i }).handle.trainableVariables, i + 1);
  const loaded = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) rows(model, { perRow: ['b', 'a', null, 'a', 'b', 'b'] });
  assert.equal(tf.memory().numTensors, loaded, 'no growth per forward');
  manager.delete('a');
  manager.delete('b');
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('DoRA falls back to the per-adapter path and stays exact', () => {
  const { model, manager } = setup({ a: { r: 2 }, d: { r: 4, use_dora: true } });
  batched = 0;
  assertMatchesAlone(model, ['a', 'd', 'a', null, 'd', 'a']);
  assert.equal(batched, 0, 'a hook without a batcher keeps the whole site on the per-adapter path');
  manager.dispose();
  model.dispose();
});

test('training through the batched path gives each adapter the gradient it gets alone on its rows', () => {
  const { model, manager } = setup({ a: { r: 2 }, b: { r: 4, target_modules: ['q_proj', 'k_proj', 'v_proj'] } });
  const perRow = ['a', 'b', 'b', 'a', null, 'a'];
  const weights = tf.randomNormal([ids.length, 5, 64], 0, 1, 'float32', 3);
  const loss = (selection: Selection, keep: number[]) => () => {
    const out = model.forward(
      { ids: keep.map((r) => ids[r] as number[]) },
      { selection, training: true, rng: new Rng(1) },
    );
    return tf.sum(tf.mul(out, tf.gather(weights, tf.tensor1d(keep, 'int32')))) as ReturnType<typeof tf.scalar>;
  };
  const all = perRow.map((_, r) => r);
  batched = 0;
  const mixed = tf.variableGrads(loss({ perRow }, all));
  assert.ok(batched > 0, 'the batched path ran while training');
  for (const name of ['a', 'b']) {
    const mine = all.filter((r) => perRow[r] === name);
    const alone = tf.variableGrads(loss({ active: [name] }, mine));
    for (const v of manager.get(name).handle.trainableVariables) {
      const g = [Float32Array.from(mixed.grads[v.name]?.dataSync() ?? [])];
      const want = [Float32Array.from(alone.grads[v.name]?.dataSync() ?? [])];
      assert.ok((want[0]?.length ?? 0) > 0 && maxAbsDiff(g, want) < 1e-4, `${name} ${v.name}: ${maxAbsDiff(g, want)}`);
    }
    tf.dispose([alone.value, ...Object.values(alone.grads)]);
  }
  tf.dispose([mixed.value, ...Object.values(mixed.grads), weights]);
  manager.dispose();
  model.dispose();
});

test('with dropout while training the adapters run alone (their masks are drawn per adapter)', () => {
  const { model, manager } = setup({ a: { r: 2, lora_dropout: 0.1 }, b: { r: 2, lora_dropout: 0.1 } });
  batched = 0;
  tf.tidy(() =>
    model.forward({ ids }, { selection: { perRow: ['a', 'b', 'a', 'b', 'a', 'b'] }, training: true, rng: new Rng(2) }),
  );
  assert.equal(batched, 0);
  assertMatchesAlone(model, ['a', 'b', 'a', 'b', null, 'b']);
  assert.ok(batched > 0, 'at inference dropout is off and the batch is batched');
  manager.dispose();
  model.dispose();
});

test('generation with a KV cache: the stacks built at prefill serve every decode step, and go with the cache', () => {
  const { model, manager } = setup({
    a: { r: 2 },
    b: { r: 6, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
  });
  const perRow = ['a', 'b', null, 'b', 'a', 'a'];
  const decode = (selection: Selection): Float32Array[] => {
    const before = tf.memory().numTensors;
    const cache = model.createCache();
    const steps: Float32Array[] = [];
    for (const input of [ids, ids.map((row) => [row[0] as number]), ids.map((row) => [row[1] as number])]) {
      const t = model.forward({ ids: input }, { selection, cache });
      steps.push(...(t.arraySync() as number[][][]).map((r) => Float32Array.from(r.flat())));
      t.dispose();
    }
    cache.dispose();
    assert.equal(tf.memory().numTensors, before, 'the memo is freed with the cache');
    return steps;
  };
  const mixed = decode({ perRow });
  const alone = Object.fromEntries(['a', 'b'].map((name) => [name, decode({ active: [name] })]));
  const base = decode({ active: [] });
  const want = mixed.map(
    (_, i) =>
      ((perRow[i % perRow.length] ?? null) === null ? base : alone[perRow[i % perRow.length] as string])?.[
        i
      ] as Float32Array,
  );
  assert.ok(maxAbsDiff(mixed, want) < 1e-5, `${maxAbsDiff(mixed, want)}`);
  manager.dispose();
  model.dispose();
});

test('one adapter on every row at inference takes the fused kernel and equals the composed ops', () => {
  const { model, manager } = setup({ a: { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'] } });
  let fused = 0;
  const applyAll = LoraSiteBatcher.prototype.applyAll;
  LoraSiteBatcher.prototype.applyAll = function (this: LoraSiteBatcher, ...args: Parameters<typeof applyAll>) {
    const out = applyAll.apply(this, args);
    if (out !== undefined) fused++;
    return out;
  };
  try {
    const selection = { active: ['a'] };
    // training: true takes the composed ops (autodiff needs them); the model has no dropout, lora_dropout is 0
    const composed = tf.tidy(() => model.forward({ ids }, { selection, training: true }).arraySync() as number[][][]);
    const before = tf.memory().numTensors;
    const inference = rows(model, selection);
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
    const hasKernel = tf.getKernel('PeftkitLoraRows', tf.getBackend()) !== undefined;
    assert.equal(fused > 0, hasKernel, `the fused kernel ran where the backend has it (${tf.getBackend()})`);
    const want = composed.map((r) => Float32Array.from(r.flat()));
    const scale = Math.max(1, ...want.map((row) => Math.max(...row.map(Math.abs))));
    const diff = maxAbsDiff(inference, want);
    assert.ok(diff < 1e-5 * scale, `fused vs composed: ${diff} at logits up to ${scale}`);
  } finally {
    LoraSiteBatcher.prototype.applyAll = applyAll;
    manager.dispose();
    model.dispose();
  }
});

test('gradients of an inference forward (training not set) reach the adapters, mixed and alone', () => {
  const { model, manager } = setup({ a: { r: 2 }, b: { r: 4 } });
  try {
    for (const selection of [{ perRow: ['a', 'b', null, 'b', 'a', 'a'] }, { active: ['a'] }] as Selection[]) {
      const { value, grads } = tf.variableGrads(() => tf.sum(model.forward({ ids }, { selection })) as never);
      const names = 'perRow' in selection ? ['a', 'b'] : ['a'];
      for (const name of names)
        for (const v of manager.get(name).handle.trainableVariables) {
          const g = grads[v.name]?.dataSync();
          assert.ok(
            g?.some((x) => x !== 0),
            `${JSON.stringify(selection)}: ${v.name} has a gradient`,
          );
        }
      tf.dispose([value, ...Object.values(grads)]);
    }
  } finally {
    manager.dispose();
    model.dispose();
  }
});
