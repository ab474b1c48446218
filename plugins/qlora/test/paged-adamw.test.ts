import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { AdamW } from '@peftkit/core/train';
import { PagedAdamW } from '@peftkit/qlora';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf = kernel.tf;
type Tensor = ReturnType<typeof tf.tensor>;
const settings = { betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0.01, momentum: 0 };

function variables(seed: number) {
  const rng = new Rng(seed);
  return [
    tf.variable(tf.tensor(rng.normalArray(12), [3, 4]), true),
    tf.variable(tf.tensor(rng.normalArray(5), [5]), true),
  ];
}

function gradsFor(
  vars: ReturnType<typeof variables>,
  step: number,
  names = vars.map((v) => v.name),
): Record<string, Tensor> {
  const rng = new Rng(100 + step);
  return Object.fromEntries(vars.map((v, i) => [names[i] as string, tf.tensor(rng.normalArray(v.size), v.shape)]));
}

/** PyTorch AdamW on plain float64 arrays, the math written out independently. */
function reference(p: Float64Array[], gs: Float64Array[][], lr: number): Float64Array[] {
  const [b1, b2] = settings.betas;
  const m = p.map((x) => new Float64Array(x.length));
  const v = p.map((x) => new Float64Array(x.length));
  gs.forEach((g, s) => {
    const t = s + 1;
    p.forEach((x, k) => {
      for (let i = 0; i < x.length; i++) {
        const gi = (g[k] as Float64Array)[i] as number;
        x[i] = (x[i] as number) * (1 - lr * settings.weightDecay);
        (m[k] as Float64Array)[i] = b1 * ((m[k] as Float64Array)[i] as number) + (1 - b1) * gi;
        (v[k] as Float64Array)[i] = b2 * ((v[k] as Float64Array)[i] as number) + (1 - b2) * gi * gi;
        const mHat = ((m[k] as Float64Array)[i] as number) / (1 - b1 ** t);
        const vHat = ((v[k] as Float64Array)[i] as number) / (1 - b2 ** t);
        x[i] = (x[i] as number) - (lr * mHat) / (Math.sqrt(vHat) + settings.eps);
      }
    });
  });
  return p;
}

test(
  'PagedAdamW: same updates as the core AdamW (bit-identical) and as a float64 reference; ' +
    'nothing stays on the backend',
  () => {
    const paged = variables(1);
    const core = variables(1);
    const start = paged.map((v) => Float64Array.from(v.dataSync()));
    const pagedOpt = new PagedAdamW(tf, settings);
    const coreOpt = new AdamW(tf, settings);
    const allGrads: Float64Array[][] = [];
    const before = tf.memory().numTensors;
    for (let step = 0; step < 5; step++) {
      const gp = gradsFor(paged, step);
      const gc = gradsFor(core, step);
      allGrads.push(paged.map((v) => Float64Array.from((gp[v.name] as Tensor).dataSync())));
      pagedOpt.apply(paged, gp, 1e-2);
      coreOpt.apply(core, gc, 1e-2);
      tf.dispose([...Object.values(gp), ...Object.values(gc)]);
      paged.forEach((v, i) => {
        assert.deepEqual(v.dataSync(), core[i]?.dataSync(), `step ${step}, variable ${i}: identical to AdamW`);
      });
    }
    assert.equal(
      tf.memory().numTensors,
      before + coreOpt.state().slots.size,
      'paged state adds no tensor (only AdamW slots do)',
    );
    assert.equal(pagedOpt.backendBytes, 0, 'no backend bytes');
    assert.equal(pagedOpt.hostBytes, 2 * 4 * (12 + 5), 'm and v on the host');
    const expected = reference(start, allGrads, 1e-2);
    paged.forEach((v, i) => {
      const got = v.dataSync();
      for (let j = 0; j < got.length; j++)
        assert.ok(
          Math.abs((got[j] as number) - ((expected[i] as Float64Array)[j] as number)) < 1e-5,
          `reference ${i}/${j}`,
        );
    });
    tf.dispose([...paged, ...core]);
    pagedOpt.dispose();
    coreOpt.dispose();
  },
);

test('PagedAdamW: state() / loadState() resume exactly, AdamW state is accepted, bad state refused unchanged', () => {
  const a = variables(2);
  const opt = new PagedAdamW(tf, settings);
  for (let s = 0; s < 3; s++) {
    const g = gradsFor(a, s);
    opt.apply(a, g, 1e-2);
    tf.dispose(Object.values(g));
  }
  const saved = opt.state();
  assert.deepEqual(
    [...saved.slots.keys()].sort(),
    a.flatMap((v) => [`${v.name}/exp_avg`, `${v.name}/exp_avg_sq`]).sort(),
    'slot keys like AdamW',
  );
  const b = a.map((v) => tf.variable(v.clone(), true));
  const resumed = new PagedAdamW(tf, settings);
  // Slots are keyed by variable name: map a's names onto b's.
  const renamed = new Map(
    [...saved.slots].map(([k, s]) => [
      k.replace(a[0]?.name as string, b[0]?.name as string).replace(a[1]?.name as string, b[1]?.name as string),
      s,
    ]),
  );
  resumed.loadState({ ...saved, slots: renamed });
  const g1 = gradsFor(a, 9);
  const g2 = gradsFor(
    b,
    9,
    b.map((v) => v.name),
  );
  opt.apply(a, g1, 1e-2);
  resumed.apply(b, g2, 1e-2);
  a.forEach((v, i) => {
    assert.deepEqual(v.dataSync(), b[i]?.dataSync(), `resumed variable ${i} identical`);
  });
  const core = new AdamW(tf, settings);
  core.loadState({ ...opt.state(), kind: 'adamw' });
  const fromCore = new PagedAdamW(tf, settings);
  fromCore.loadState(core.state());
  assert.deepEqual(fromCore.state().slots, opt.state().slots, 'AdamW state loads into PagedAdamW');
  assert.throws(
    () => fromCore.loadState({ kind: 'sgd', scalars: { t: 1 }, slots: new Map() }),
    (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_OPTIMIZER_STATE',
    'foreign kind refused',
  );
  assert.throws(
    () =>
      fromCore.loadState({
        kind: 'paged_adamw',
        scalars: { t: 1 },
        slots: new Map([['x/exp_avg', { shape: [2], values: new Float32Array(3) }]]),
      }),
    (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_OPTIMIZER_STATE',
    'mis-sized slot refused',
  );
  assert.deepEqual(fromCore.state().slots, opt.state().slots, 'a refused state changes nothing');
  tf.dispose([...a, ...b, ...Object.values(g1), ...Object.values(g2)]);
  core.dispose();
});

test(
  'PagedAdamW with a 25 % byte budget: identical updates, moments spilled to files and paged back, ' + 'files removed',
  () => {
    const make = () => {
      const rng = new Rng(5);
      return Array.from({ length: 4 }, () => tf.variable(tf.tensor(rng.normalArray(100), [10, 10]), true));
    };
    const free = make();
    const paged = make();
    const dir = mkdtempSync(join(tmpdir(), 'peftkit-paged-test-'));
    const unbounded = new PagedAdamW(tf, settings);
    const budget = 0.25 * 4 * 100 * 8;
    const bounded = new PagedAdamW(tf, settings, { budgetBytes: budget, spillDir: dir });
    try {
      for (let step = 0; step < 6; step++) {
        const g1 = gradsFor(free, step);
        const g2 = gradsFor(
          paged,
          step,
          paged.map((v) => v.name),
        );
        // Reverse order on odd steps so slots are paged back out of insertion order.
        const order = step % 2 === 0 ? [0, 1, 2, 3] : [3, 2, 1, 0];
        unbounded.apply(
          order.map((i) => free[i] as (typeof free)[number]),
          g1,
          1e-2,
        );
        bounded.apply(
          order.map((i) => paged[i] as (typeof paged)[number]),
          g2,
          1e-2,
        );
        tf.dispose([...Object.values(g1), ...Object.values(g2)]);
        assert.ok(bounded.hostBytes <= budget, `step ${step}: resident ${bounded.hostBytes} ≤ budget ${budget}`);
        free.forEach((v, i) => {
          assert.deepEqual(paged[i]?.dataSync(), v.dataSync(), `step ${step}, variable ${i}: same as unbounded`);
        });
      }
      assert.equal(bounded.spilledBytes, 3 * 800, 'three of four variables spilled');
      assert.ok(bounded.peakHostBytes <= budget + 800, `peak ${bounded.peakHostBytes} ≤ budget + one variable`);
      assert.ok(bounded.peakHostBytes < unbounded.peakHostBytes, 'lower peak than the unbounded optimizer');
      assert.equal(readdirSync(dir).length, 3, 'one file per spilled variable');
      const a = unbounded.state();
      const b = bounded.state();
      const rename = (k: string) =>
        k.replace(/^[^/]+/, (name) => paged[free.findIndex((v) => v.name === name)]?.name ?? name);
      assert.deepEqual(
        new Map([...a.slots].map(([k, v]) => [rename(k), v])),
        b.slots,
        'state() reads spilled moments back',
      );
      bounded.dispose();
      assert.equal(readdirSync(dir).length, 0, 'dispose removes the spill files');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      tf.dispose([...free, ...paged]);
      unbounded.dispose();
    }
  },
);
