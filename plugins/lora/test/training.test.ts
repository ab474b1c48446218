import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, maxParameterDiff, snapshotParameters, tinyBatch } from '@peftkit/testing';
import lora, { trainableParameterReport } from '@peftkit/lora';

// A few steps of plain gradient descent on the adapter's variables only: the loss falls, the base stays bit-identical.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(lora);
const tf = kernel.tf;
type Scalar = ReturnType<typeof tf.scalar>;

const ids = tinyBatch(2, 8, 5);
const inputs = ids.map((row) => row.slice(0, -1));
const targets = ids.map((row) => row.slice(1));

function count(config: Record<string, unknown>): number {
  const model = createTinyLlama(tf, { seed: 4 });
  const manager = kernel.adapters(model);
  const n = manager.create('c', 'lora', config).handle.trainableVariables.length;
  manager.dispose();
  model.dispose();
  return n;
}

function train(
  config: Record<string, unknown>,
  steps: number,
  seed = 1,
): { losses: number[]; baseDiff: number; changed: number } {
  const model = createTinyLlama(tf, { seed: 4 });
  const manager = kernel.adapters(model);
  const vars = manager.create('t', 'lora', config).handle.trainableVariables;
  const before = snapshotParameters(model);
  const initial = vars.map((v) => Float32Array.from(v.dataSync()));
  const rng = new Rng(seed);
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const { value, grads } = tf.variableGrads(() => {
      const out = model.forward({ ids: inputs }, { selection: { active: ['t'] }, training: true, rng });
      const logp = tf.logSoftmax(out);
      const onehot = tf.oneHot(tf.tensor2d(targets, undefined, 'int32'), logp.shape[2] as number);
      return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), -1))) as Scalar;
    }, [...vars]);
    assert.equal(Object.keys(grads).length, vars.length, 'gradients exist for exactly the adapter variables');
    for (const v of vars) {
      const g = grads[v.name];
      assert.ok(g);
      tf.tidy(() => v.assign(tf.sub(v, tf.mul(g, 0.5))));
    }
    losses.push(value.dataSync()[0] as number);
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
  }
  const changed = vars.filter((v, i) => v.dataSync().some((x, j) => x !== initial[i]?.[j])).length;
  const baseDiff = maxParameterDiff(model, before);
  manager.dispose();
  model.dispose();
  return { losses, baseDiff, changed };
}

for (const [label, config] of [
  ['LoRA on q/v', { target_modules: ['q_proj', 'v_proj'], r: 4, lora_alpha: 8 }],
  ['all-linear with dropout', { target_modules: 'all-linear', r: 2, lora_dropout: 0.1 }],
  ['embedding + o_proj', { target_modules: ['embed_tokens', 'o_proj'], r: 2 }],
  ['DoRA', { target_modules: ['q_proj', 'down_proj'], r: 2, use_dora: true }],
] as [string, Record<string, unknown>][]) {
  test(`training ${label}: loss falls, every adapter variable moves, base weights unchanged`, () => {
    const { losses, baseDiff, changed } = train(config, 6);
    const first = losses[0] as number;
    const last = losses[losses.length - 1] as number;
    assert.ok(last < first - 1e-3, `loss ${first} → ${last}`);
    assert.equal(baseDiff, 0, 'frozen base: bit-identical');
    assert.equal(changed, count(config), 'every adapter variable moved');
  });
}

test('dropout masks come from the call rng: same seed, same run; no dropout outside training', () => {
  const config = { target_modules: ['q_proj', 'v_proj'], r: 4, lora_dropout: 0.5, init_lora_weights: false };
  assert.deepEqual(train(config, 2, 7).losses, train(config, 2, 7).losses);
  assert.notDeepEqual(train(config, 2, 7).losses, train(config, 2, 8).losses);
  const model = createTinyLlama(tf, { seed: 4 });
  const manager = kernel.adapters(model);
  manager.create('d', 'lora', config);
  const run = (options: Record<string, unknown>) =>
    tf.tidy(() => Array.from(model.forward({ ids }, { selection: { active: ['d'] }, ...options }).dataSync()));
  assert.deepEqual(run({ training: false, rng: new Rng(3) }), run({}));
  assert.notDeepEqual(run({ training: true, rng: new Rng(3) }), run({}));
  manager.dispose();
  model.dispose();
});

test("trainable-parameter report in PEFT's format", () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  const handle = manager.create('r', 'lora', {}).handle;
  // 2 layers × (q: 8·16 + 16·8, v: 8·16 + 8·8) = 2 × (256 + 192) = 896 trainable.
  let base = 0;
  for (const v of model.parameters().values()) base += v.size;
  const all = base + 896;
  assert.equal(
    trainableParameterReport(model, handle),
    `trainable params: 896 || all params: ${all.toLocaleString('en-US')} || trainable%: ` +
      `${((100 * 896) / all).toFixed(4)}`,
  );
  assert.match(
    trainableParameterReport(model, handle),
    /^trainable params: 896 \|\| all params: \d{1,3}(,\d{3})+ \|\| trainable%: \d+\.\d{4}$/,
  );
  manager.dispose();
  model.dispose();
});
