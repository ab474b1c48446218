import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AdapterManager, decodeAdapter, encodeAdapter, isPeftkitError, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, logits, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import lora, { addWeightedAdapter, type LoraHandle } from '@peftkit/lora';

// add_weighted_adapter: every combination checked against ΔW computed here in plain JS.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(lora);
const tf = kernel.tf;
const Q = 'model.layers.0.self_attn.q_proj';

type Matrix = { rows: number; cols: number; data: Float64Array };

function factors(manager: AdapterManager, adapter: string, site: string): { a: Matrix; b: Matrix; s: number } {
  const layer = (manager.get(adapter).handle as LoraHandle).layers.find((l) => l.site.name === site);
  assert.ok(layer);
  const [r, inF] = layer.a.shape as [number, number];
  const out = layer.b.shape[0] as number;
  return {
    a: { rows: r, cols: inF, data: Float64Array.from(layer.a.dataSync()) },
    b: { rows: out, cols: r, data: Float64Array.from(layer.b.dataSync()) },
    s: layer.scaling,
  };
}

function matmul(x: Matrix, y: Matrix, scale = 1): Matrix {
  const data = new Float64Array(x.rows * y.cols);
  for (let i = 0; i < x.rows; i++)
    for (let k = 0; k < x.cols; k++)
      for (let j = 0; j < y.cols; j++)
        data[i * y.cols + j] =
          (data[i * y.cols + j] as number) +
          scale * (x.data[i * x.cols + k] as number) * (y.data[k * y.cols + j] as number);
  return { rows: x.rows, cols: y.cols, data };
}

/** s·B·A of an adapter at a site. */
function delta(manager: AdapterManager, adapter: string, site: string): Matrix {
  const f = factors(manager, adapter, site);
  return matmul(f.b, f.a, f.s);
}

function weighted(parts: [Matrix, number][]): Matrix {
  const [first] = parts[0] as [Matrix, number];
  const data = new Float64Array(first.data.length);
  for (const [m, w] of parts)
    for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) + w * (m.data[i] as number);
  return { rows: first.rows, cols: first.cols, data };
}

function maxDiff(x: Matrix, y: Matrix): number {
  let max = 0;
  for (let i = 0; i < x.data.length; i++) max = Math.max(max, Math.abs((x.data[i] as number) - (y.data[i] as number)));
  return max;
}

function setup() {
  const model = createTinyLlama(tf, { seed: 9 });
  const manager = kernel.adapters(model);
  perturb(
    tf,
    manager.create('a', 'lora', { target_modules: ['q_proj', 'v_proj'], r: 4, lora_alpha: 8 }).handle
      .trainableVariables,
    1,
    0.3,
  );
  perturb(
    tf,
    manager.create('b', 'lora', { target_modules: ['q_proj'], r: 4, lora_alpha: 2, use_rslora: true }).handle
      .trainableVariables,
    2,
    0.3,
  );
  return { model, manager };
}

test('cat is exact: B′·A′ = Σ wᵢ·ΔWᵢ, ranks add up per module and survive save → load', () => {
  const { model, manager } = setup();
  const weights = [0.7, -1.3];
  addWeightedAdapter(manager, { adapters: ['a', 'b'], weights, name: 'cat', combination: 'cat' });
  const expected = weighted([
    [delta(manager, 'a', Q), 0.7],
    [delta(manager, 'b', Q), -1.3],
  ]);
  assert.ok(maxDiff(delta(manager, 'cat', Q), expected) < 1e-5);
  const v = 'model.layers.1.self_attn.v_proj';
  assert.ok(maxDiff(delta(manager, 'cat', v), weighted([[delta(manager, 'a', v), 0.7]])) < 1e-5);
  const handle = manager.get('cat').handle as LoraHandle;
  assert.deepEqual(Object.fromEntries(handle.layers.map((l) => [l.site.name, [l.r, l.scaling]])), {
    [Q]: [8, 1],
    'model.layers.1.self_attn.q_proj': [8, 1],
    'model.layers.0.self_attn.v_proj': [4, 1],
    [v]: [4, 1],
  });

  // Weights 1, 1: the combined adapter equals both adapters applied together.
  addWeightedAdapter(manager, { adapters: ['a', 'b'], weights: [1, 1], name: 'sum', combination: 'cat' });
  const ids = tinyBatch(2, 4);
  assert.ok(maxAbsDiff(logits(model, ids, { active: ['sum'] }), logits(model, ids, { active: ['a', 'b'] })) < 1e-5);

  const saved = manager.save('cat');
  const encoded = encodeAdapter(saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  const other = createTinyLlama(tf, { seed: 9 });
  const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
  kernel.adapters(other).load('cat', decoded);
  for (const t of Object.values(decoded.tensors)) t.dispose();
  assert.ok(maxAbsDiff(logits(model, ids, { active: ['cat'] }), logits(other, ids, { active: ['cat'] })) <= 1e-6);
  kernel.adapters(other).dispose();
  other.dispose();
  manager.dispose();
  model.dispose();
});

test('linear combines A and B separately with √|w·s| (sign on A), as PEFT does', () => {
  const { model, manager } = setup();
  const weights = [0.5, -2];
  addWeightedAdapter(manager, { adapters: ['a', 'b'], weights, name: 'lin', combination: 'linear' });
  const fa = factors(manager, 'a', Q);
  const fb = factors(manager, 'b', Q);
  const ca = Math.sqrt(Math.abs(0.5 * fa.s));
  const cb = Math.sqrt(Math.abs(-2 * fb.s));
  const a = weighted([
    [fa.a, ca],
    [fb.a, -cb],
  ]);
  const b = weighted([
    [fa.b, ca],
    [fb.b, cb],
  ]);
  assert.ok(maxDiff(delta(manager, 'lin', Q), matmul(b, a)) < 1e-5);
  assert.equal((manager.get('lin').handle as LoraHandle).config.r, 4);
  manager.create('r2', 'lora', { target_modules: ['q_proj'], r: 2 });
  assert.throws(
    () => addWeightedAdapter(manager, { adapters: ['a', 'r2'], weights: [1, 1], name: 'x', combination: 'linear' }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_COMBINATION'),
  );
  assert.equal(manager.has('x'), false);
  manager.dispose();
  model.dispose();
});

test('svd at full rank reproduces Σ wᵢ·ΔWᵢ', () => {
  const { model, manager } = setup();
  addWeightedAdapter(manager, {
    adapters: ['a', 'b'],
    weights: [1.5, 0.25],
    name: 'svd',
    combination: 'svd',
    svdRank: 8,
  });
  const expected = weighted([
    [delta(manager, 'a', Q), 1.5],
    [delta(manager, 'b', Q), 0.25],
  ]);
  assert.ok(maxDiff(delta(manager, 'svd', Q), expected) < 1e-5);
  manager.dispose();
  model.dispose();
});

/** Orthonormal columns: Gram–Schmidt of a seeded random n×k matrix. */
function orthonormal(n: number, k: number, seed: number): Matrix {
  const rng = new Rng(seed);
  const m = { rows: n, cols: k, data: Float64Array.from(rng.normalArray(n * k)) };
  for (let j = 0; j < k; j++) {
    for (let p = 0; p < j; p++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += (m.data[i * k + p] as number) * (m.data[i * k + j] as number);
      for (let i = 0; i < n; i++)
        m.data[i * k + j] = (m.data[i * k + j] as number) - dot * (m.data[i * k + p] as number);
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += (m.data[i * k + j] as number) ** 2;
    for (let i = 0; i < n; i++) m.data[i * k + j] = (m.data[i * k + j] as number) / Math.sqrt(norm);
  }
  return m;
}

test('svd at lower rank gives the best rank-k approximation (known singular vectors)', () => {
  const model = createTinyLlama(tf, { seed: 9 });
  const manager = kernel.adapters(model);
  const u = orthonormal(16, 8, 5);
  const v = orthonormal(16, 8, 6);
  // Adapter i holds singular pairs 4i..4i+3: B = U·diag(σ), A = Vᵀ (scaling 1 since alpha = r).
  const sigma = [
    [5, 3, 1.5, 0.5],
    [4, 2.5, 1, 0.25],
  ];
  sigma.forEach((values, i) => {
    const handle = manager.create(`o${i}`, 'lora', { target_modules: [Q], r: 4, lora_alpha: 4 }).handle as LoraHandle;
    const layer = handle.layers[0];
    assert.ok(layer);
    const a = new Float32Array(4 * 16);
    const b = new Float32Array(16 * 4);
    for (let k = 0; k < 4; k++) {
      for (let j = 0; j < 16; j++) a[k * 16 + j] = v.data[j * 8 + 4 * i + k] as number;
      for (let r = 0; r < 16; r++) b[r * 4 + k] = (u.data[r * 8 + 4 * i + k] as number) * (values[k] as number);
    }
    tf.tidy(() => {
      layer.a.assign(tf.tensor2d(a, [4, 16]));
      layer.b.assign(tf.tensor2d(b, [16, 4]));
    });
  });
  // Weights 1 and 1.2 give effective σ 5, 3, 1.5, 0.5 (pairs 0–3) and 4.8, 3, 1.2, 0.3 (pairs 4–7):
  // the best rank 2 keeps pairs 0 and 4, the best rank 4 adds pairs 1 and 5 (both σ = 3; the next is 1.5).
  const weights = [1, 1.2];
  for (const [k, keep] of [
    [
      2,
      [
        [0, 5],
        [4, 4.8],
      ],
    ],
    [
      4,
      [
        [0, 5],
        [4, 4.8],
        [1, 3],
        [5, 3],
      ],
    ],
  ] as [number, [number, number][]][]) {
    addWeightedAdapter(manager, { adapters: ['o0', 'o1'], weights, name: `k${k}`, combination: 'svd', svdRank: k });
    const best = new Float64Array(16 * 16);
    for (const [col, s] of keep) {
      for (let r = 0; r < 16; r++)
        for (let c = 0; c < 16; c++)
          best[r * 16 + c] =
            (best[r * 16 + c] as number) + s * (u.data[r * 8 + col] as number) * (v.data[c * 8 + col] as number);
    }
    const got = delta(manager, `k${k}`, Q);
    assert.equal(factors(manager, `k${k}`, Q).a.rows, k);
    assert.ok(
      maxDiff(got, { rows: 16, cols: 16, data: best }) < 1e-4,
      `rank ${k}: ${maxDiff(got, { rows: 16, cols: 16, data: best })}`,
    );
  }
  manager.dispose();
  model.dispose();
});

test('combination errors are coded and leave no adapter behind', () => {
  const { model, manager } = setup();
  const bad = (options: Parameters<typeof addWeightedAdapter>[1], code: string) => {
    assert.throws(
      () => addWeightedAdapter(manager, options),
      (e) => isPeftkitError(e, code),
    );
    assert.equal(manager.has(options.name), false);
  };
  bad({ adapters: ['a', 'nope'], weights: [1, 1], name: 'x', combination: 'cat' }, 'PEFTKIT_E_ADAPTER_UNKNOWN');
  bad({ adapters: ['a', 'b'], weights: [1], name: 'x', combination: 'cat' }, 'PEFTKIT_E_COMBINATION');
  bad({ adapters: ['a', 'b'], weights: [1, Number.NaN], name: 'x', combination: 'cat' }, 'PEFTKIT_E_COMBINATION');
  bad({ adapters: ['a', 'b'], weights: [1, 1], name: 'x', combination: 'svd', svdRank: 0 }, 'PEFTKIT_E_COMBINATION');
  manager.create('d', 'lora', { target_modules: ['q_proj'], use_dora: true });
  bad({ adapters: ['a', 'd'], weights: [1, 1], name: 'x', combination: 'cat' }, 'PEFTKIT_E_COMBINATION');
  manager.dispose();
  model.dispose();
});
