import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, disposeSaved, encodeAdapter, type LinearSite } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, logits, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import lora from '@peftkit/lora';
import qlora, { QLORA_CONFIG_KEY, QuantizedLinearBase } from '@peftkit/qlora';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(lora);
kernel.use(qlora);
const tf = kernel.tf;
const ids = tinyBatch(2, 6);

function firstBase(model: ReturnType<typeof createTinyLlama>): QuantizedLinearBase {
  const site = quantizedSites(model)[0];
  if (site === undefined) throw new Error('no quantized site');
  return site.base as QuantizedLinearBase;
}

const quantizedSites = (model: ReturnType<typeof createTinyLlama>) =>
  [...model.sites()].filter((s): s is LinearSite => s.kind === 'linear' && s.base instanceof QuantizedLinearBase);

test('inject quantizes every non-head linear (QLoRA recipe) and trains only LoRA variables', () => {
  const model = createTinyLlama(tf, { seed: 5 });
  const manager = kernel.adapters(model);
  const record = manager.create('a', 'qlora', { target_modules: 'all-linear', r: 4 });
  assert.equal(quantizedSites(model).length, 14, '7 linears × 2 layers quantized');
  assert.equal(record.handle.trainableVariables.length, 28, 'A and B of 14 LoRA layers');
  assert.throws(
    () => manager.create('b', 'qlora', { quant_type: 'fp4' }),
    (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_QLORA_QUANT_MISMATCH',
    'a second adapter cannot requantize the base differently',
  );
  assert.equal(manager.has('b'), false, 'nothing registered for the refused adapter');
  manager.dispose();
  model.dispose();
});

test('config: LoRA fields plus strict quantization fields', () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  for (const bad of [{ quant_type: 'int8' }, { block_size: 48 }, { block_size: 16 }, { compute_dtype: 'bfloat16' }]) {
    assert.throws(
      () => manager.create('x', 'qlora', bad),
      (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_CONFIG_INVALID',
      JSON.stringify(bad),
    );
  }
  assert.equal(
    [...model.sites()].filter((s) => s.kind === 'linear' && s.base instanceof QuantizedLinearBase).length,
    0,
    'a refused config quantizes nothing',
  );
  model.dispose();
});

test('saved adapter: PEFT LoRA format + the peftkit_qlora marker; recognized by qlora only when marked', () => {
  const model = createTinyLlama(tf, { seed: 5 });
  const manager = kernel.adapters(model);
  perturb(
    tf,
    manager.create('a', 'qlora', { quant_type: 'fp4', block_size: 32, double_quant: false }).handle.trainableVariables,
    3,
  );
  const saved = manager.save('a');
  assert.equal(saved.config.peft_type, 'LORA', 'peft_type LORA as PEFT writes QLoRA adapters');
  assert.deepEqual(
    saved.config[QLORA_CONFIG_KEY],
    { quant_type: 'fp4', double_quant: false, block_size: 32, compute_dtype: 'float32' },
    'marker',
  );
  assert.ok(
    Object.keys(saved.tensors).every((k) => /^base_model\.model\..*\.lora_[AB]\.weight$/.test(k)),
    'PEFT key names',
  );
  assert.equal(qlora.recognizes?.(saved.config), true, 'qlora recognizes its files');
  const { [QLORA_CONFIG_KEY]: _marker, ...plain } = saved.config;
  assert.equal(qlora.recognizes?.(plain), false, 'a plain LoRA file is not stolen');
  assert.equal(manager.pluginFor(saved.config).meta.name, 'qlora', 'marked file → qlora');
  assert.equal(manager.pluginFor(plain).meta.name, 'lora', 'plain file → lora');

  const expected = logits(model, ids, { active: ['a'] });
  const encoded = encodeAdapter(saved);
  disposeSaved(saved);
  const other = createTinyLlama(tf, { seed: 5 });
  const otherManager = kernel.adapters(other);
  const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
  otherManager.load('b', decoded);
  disposeSaved(decoded);
  assert.equal(otherManager.get('b').plugin.meta.name, 'qlora', 'loaded by qlora');
  assert.equal(firstBase(other).options.quantType, 'fp4', 'base quantized as the file says');
  assert.equal(maxAbsDiff(expected, logits(other, ids, { active: ['b'] })), 0, 'identical logits after the round trip');
  otherManager.dispose();
  other.dispose();
  manager.dispose();
  model.dispose();
});

test('a plain LoRA file loaded with method qlora gets QLoRA defaults (nf4, double quant, 64)', () => {
  const model = createTinyLlama(tf, { seed: 5 });
  const manager = kernel.adapters(model);
  manager.create('plain', 'lora', {});
  const saved = manager.save('plain');
  manager.dispose();
  const record = manager.load('q', saved, { method: 'qlora' });
  disposeSaved(saved);
  assert.equal(record.plugin.meta.name, 'qlora', 'qlora plugin');
  assert.deepEqual(firstBase(model).options, { quantType: 'nf4', doubleQuant: true, blockSize: 64 }, 'defaults');
  manager.dispose();
  model.dispose();
});

test('merge requantizes the targeted bases; unmerge restores their packed bytes exactly', () => {
  const model = createTinyLlama(tf, { seed: 5 });
  const manager = kernel.adapters(model);
  perturb(tf, manager.create('a', 'qlora', { target_modules: ['q_proj', 'down_proj'] }).handle.trainableVariables, 4);
  const states = new Map(
    quantizedSites(model).map((s) => [s.name, (s.base as QuantizedLinearBase).state.packed.slice()]),
  );
  const unmerged = logits(model, ids, { active: ['a'] });
  const base = logits(model, ids);
  manager.merge('a');
  const changed = quantizedSites(model).filter(
    (s) => !(s.base as QuantizedLinearBase).state.packed.every((b, i) => b === states.get(s.name)?.[i]),
  );
  assert.deepEqual(
    changed.map((s) => s.name.split('.').pop()).sort(),
    ['down_proj', 'down_proj', 'q_proj', 'q_proj'],
    'only targeted bases change',
  );
  const merged = logits(model, ids);
  assert.ok(maxAbsDiff(merged, unmerged) < maxAbsDiff(base, unmerged), 'merged output moves towards the adapter');
  manager.unmerge('a');
  for (const s of quantizedSites(model))
    assert.deepEqual((s.base as QuantizedLinearBase).state.packed, states.get(s.name), `${s.name} restored exactly`);
  assert.equal(maxAbsDiff(base, logits(model, ids)), 0, 'base logits restored exactly');
  manager.dispose();
  model.dispose();
});

test('a few gradient steps on the quantized base lower the loss and leave the packed base untouched', () => {
  const model = createTinyLlama(tf, { seed: 4 });
  const manager = kernel.adapters(model);
  const vars = manager.create('t', 'qlora', { target_modules: 'all-linear', r: 4 }).handle.trainableVariables;
  const packed = quantizedSites(model).map((s) => (s.base as QuantizedLinearBase).state.packed.slice());
  const batch = tinyBatch(2, 8, 5);
  const inputs = batch.map((row) => row.slice(0, -1));
  const targets = tf.tensor2d(
    batch.map((row) => row.slice(1)),
    undefined,
    'int32',
  );
  const losses: number[] = [];
  const before = tf.memory().numTensors;
  for (let step = 0; step < 6; step++) {
    const { value, grads } = tf.variableGrads(() => {
      const logp = tf.logSoftmax(model.forward({ ids: inputs }, { selection: { active: ['t'] }, training: true }));
      return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(targets, logp.shape[2] as number), logp), -1))) as ReturnType<
        typeof tf.scalar
      >;
    }, [...vars]);
    for (const v of vars)
      tf.tidy(() => v.assign(tf.sub(v, tf.mul(grads[v.name] as ReturnType<typeof tf.scalar>, 0.5))));
    losses.push(value.dataSync()[0] as number);
    tf.dispose([value, ...Object.values(grads)]);
  }
  assert.equal(tf.memory().numTensors, before, 'training steps leave no tensor behind');
  assert.ok(
    (losses.at(-1) as number) < (losses[0] as number) - 0.05,
    `loss falls: ${losses.map((l) => l.toFixed(3)).join(' → ')}`,
  );
  quantizedSites(model).forEach((s, i) => {
    assert.deepEqual((s.base as QuantizedLinearBase).state.packed, packed[i], 'frozen base');
  });
  targets.dispose();
  manager.dispose();
  model.dispose();
});
