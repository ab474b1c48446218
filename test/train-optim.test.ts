import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { AdamW, clipByGlobalNorm, parseTrainOptions, scheduleFactor, Sgd, warmupStepsFor } from '@peftkit/core/train';

// Optimizer, schedule and clipping math against the PyTorch / transformers formulas evaluated here in float64.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf = kernel.tf;

const start = [0.5, -1.25, 2, 0.03];
const gradsAt = (t: number) => start.map((_, i) => Math.sin(1 + t * 3 + i) * (i + 1));

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)) / Math.max(1, Math.abs(b[i] as number)));
  return worst;
}

test('AdamW follows torch.optim.AdamW (decoupled weight decay, bias correction)', () => {
  const settings = { betas: [0.9, 0.95] as const, eps: 1e-8, weightDecay: 0.1, momentum: 0 };
  const opt = new AdamW(tf, settings);
  const v = tf.variable(tf.tensor1d(start), true);
  let p = [...start];
  let m = start.map(() => 0);
  let s = start.map(() => 0);
  const lrs = [1e-2, 5e-3, 2e-2, 1e-3];
  for (let t = 1; t <= lrs.length; t++) {
    const lr = lrs[t - 1] as number;
    const g = gradsAt(t);
    const gt = tf.tensor1d(g);
    opt.apply([v], { [v.name]: gt }, lr);
    gt.dispose();
    p = p.map((x) => x - lr * 0.1 * x);
    m = m.map((x, i) => 0.9 * x + 0.1 * (g[i] as number));
    s = s.map((x, i) => 0.95 * x + 0.05 * (g[i] as number) ** 2);
    p = p.map(
      (x, i) => x - (lr * ((m[i] as number) / (1 - 0.9 ** t))) / (Math.sqrt((s[i] as number) / (1 - 0.95 ** t)) + 1e-8),
    );
  }
  assert.ok(maxRelDiff(v.dataSync(), p) <= 1e-6, `weights ${Array.from(v.dataSync())} vs ${p}`);
  const state = opt.state();
  assert.equal(state.scalars.t, 4, 'step count kept in the state');
  assert.ok(maxRelDiff(state.slots.get(`${v.name}/exp_avg`)?.values ?? [], m) <= 1e-6, 'first moment slot');
  assert.ok(maxRelDiff(state.slots.get(`${v.name}/exp_avg_sq`)?.values ?? [], s) <= 1e-6, 'second moment slot');
  assert.equal(opt.backendBytes, 2 * 4 * 4, 'two float32 slots of 4 values');
  opt.dispose();
  v.dispose();
});

test('AdamW state round-trips: loadState then apply equals uninterrupted apply', () => {
  const settings = { betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0.01, momentum: 0 };
  const run = (split: boolean) => {
    const v = tf.variable(tf.tensor1d(start), true);
    let opt = new AdamW(tf, settings);
    for (let t = 1; t <= 4; t++) {
      if (split && t === 3) {
        const saved = opt.state();
        opt.dispose();
        opt = new AdamW(tf, settings);
        opt.loadState(saved);
      }
      const g = tf.tensor1d(gradsAt(t));
      opt.apply([v], { [v.name]: g }, 1e-2);
      g.dispose();
    }
    const out = Array.from(v.dataSync());
    opt.dispose();
    v.dispose();
    return out;
  };
  assert.deepEqual(run(true), run(false), 'bit-identical after a state round trip');
  const sgd = new Sgd(tf, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, momentum: 0.9 });
  assert.throws(
    () => sgd.loadState(new AdamW(tf, settings).state()),
    (e) => isPeftkitError(e, 'PEFTKIT_E_OPTIMIZER_STATE'),
    'state of another optimizer kind is refused',
  );
  sgd.dispose();
});

test('SGD with momentum and weight decay follows torch.optim.SGD', () => {
  const opt = new Sgd(tf, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.05, momentum: 0.8 });
  const v = tf.variable(tf.tensor1d(start), true);
  let p = [...start];
  let buf: number[] | null = null;
  for (let t = 1; t <= 3; t++) {
    const g = gradsAt(t);
    const gt = tf.tensor1d(g);
    opt.apply([v], { [v.name]: gt }, 0.1);
    gt.dispose();
    const d = g.map((x, i) => x + 0.05 * (p[i] as number));
    const b: number[] = buf === null ? d : buf.map((x, i) => 0.8 * x + (d[i] as number));
    buf = b;
    p = p.map((x, i) => x - 0.1 * (b[i] as number));
  }
  assert.ok(maxRelDiff(v.dataSync(), p) <= 1e-6, `weights ${Array.from(v.dataSync())} vs ${p}`);
  opt.dispose();
  v.dispose();
});

test('schedules match transformers get_*_schedule_with_warmup', () => {
  // warmup 2 of 10 steps: 0, 0.5, then the decay part
  assert.equal(scheduleFactor('linear', 0, 10, 2), 0, 'first update of a warmup uses lr 0');
  assert.equal(scheduleFactor('linear', 1, 10, 2), 0.5, 'halfway through warmup');
  assert.equal(scheduleFactor('linear', 2, 10, 2), 1, 'end of warmup');
  assert.equal(scheduleFactor('linear', 6, 10, 2), 0.5, 'linear decay midpoint (10-6)/(10-2)');
  assert.equal(scheduleFactor('linear', 10, 10, 2), 0, 'linear decay reaches 0');
  assert.equal(scheduleFactor('constant', 1, 10, 2), 0.5, 'constant with warmup');
  assert.equal(scheduleFactor('constant', 7, 10, 2), 1, 'constant after warmup');
  assert.ok(Math.abs(scheduleFactor('cosine', 6, 10, 2) - 0.5) < 1e-12, 'cosine midpoint is 0.5');
  assert.ok(
    Math.abs(scheduleFactor('cosine', 4, 10, 2) - (1 + Math.SQRT1_2) / 2) < 1e-12,
    'cosine at a quarter: (1+cos(π/4))/2',
  );
  assert.equal(scheduleFactor('cosine', 0, 10, 0), 1, 'no warmup: full lr at once');
  assert.equal(warmupStepsFor(10, null, 0.25), 3, 'ceil(ratio · total)');
  assert.equal(warmupStepsFor(10, 4, 0.25), 4, 'explicit warmup steps win');
});

test('clipByGlobalNorm follows clip_grad_norm_: total norm over all tensors, scale max/(norm+1e-6)', () => {
  const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
  const { norm, grads: out } = clipByGlobalNorm(tf, grads, 1);
  assert.ok(Math.abs(norm - 5) < 1e-6, `norm ${norm}`);
  const scale = 1 / (5 + 1e-6);
  assert.ok(maxRelDiff(out.a?.dataSync() ?? [], [3 * scale, 0]) < 1e-6, 'a scaled');
  assert.ok(maxRelDiff(out.b?.dataSync() ?? [], [0, 4 * scale]) < 1e-6, 'b scaled');
  assert.ok(grads.a.isDisposed && grads.b.isDisposed, 'replaced gradients are freed');
  for (const g of Object.values(out)) g.dispose();
  const small = { a: tf.tensor1d([0.3, 0.4]) };
  const kept = clipByGlobalNorm(tf, small, 1);
  assert.equal(kept.grads.a, small.a, 'below the threshold nothing changes');
  assert.ok(Math.abs(kept.norm - 0.5) < 1e-6, 'norm still reported');
  small.a.dispose();
});

test('training options are strict, with defaults', () => {
  const o = parseTrainOptions({});
  assert.equal(o.optimizer, 'adamw', 'default optimizer');
  assert.deepEqual(o.betas, [0.9, 0.999], 'default betas');
  assert.equal(o.eps, 1e-8, 'default eps');
  assert.equal(o.weightDecay, 0, 'default weight decay');
  for (const bad of [
    { lr: -1 },
    { batchSize: 0 },
    { nope: 1 },
    { schedule: 'step' },
    { earlyStopping: { patience: 0 } },
  ]) {
    assert.throws(
      () => parseTrainOptions(bad),
      (e) => isPeftkitError(e, 'PEFTKIT_E_TRAIN_OPTIONS'),
      `${JSON.stringify(bad)} is refused`,
    );
  }
});
