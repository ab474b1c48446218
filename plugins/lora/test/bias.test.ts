import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, encodeAdapter, isPeftkitError, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { LlamaModel } from '@peftkit/models';
import {
  logits,
  maxAbsDiff,
  maxParameterDiff,
  perturb,
  snapshotParameters,
  TINY_LLAMA_CONFIG,
  tinyBatch,
} from '@peftkit/testing';
import lora, { type LoraHandle } from '@peftkit/lora';

// bias 'all' / 'lora_only' on a Qwen2-style model (q, k, v carry biases). The trained biases are per-adapter copies:
// they act only for rows of their adapter and reach the base biases only through merge.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(lora);
const tf = kernel.tf;
const ids = tinyBatch(3, 5);
const qwen = () =>
  new LlamaModel(tf, { ...TINY_LLAMA_CONFIG, model_type: 'qwen2' }, { kind: 'random', rng: new Rng(8), std: 0.2 });

test("bias 'lora_only' trains the adapted modules' biases, 'all' every linear bias", () => {
  const model = qwen();
  const manager = kernel.adapters(model);
  const only = manager.create('o', 'lora', { target_modules: ['q_proj', 'v_proj'], bias: 'lora_only' })
    .handle as LoraHandle;
  assert.deepEqual(only.biases.map((b) => b.site.name.split('.').slice(2).join('.')).sort(), [
    '0.self_attn.q_proj',
    '0.self_attn.v_proj',
    '1.self_attn.q_proj',
    '1.self_attn.v_proj',
  ]);
  const all = manager.create('a', 'lora', { target_modules: ['q_proj'], bias: 'all' }).handle as LoraHandle;
  assert.equal(all.biases.length, 6, 'q, k and v biases of both layers');
  assert.equal(all.trainableVariables.length, 2 * 2 + 6);
  manager.dispose();
  model.dispose();
});

test('trained biases act per adapter, save under PEFT keys, merge and unmerge exactly', () => {
  const model = qwen();
  const manager = kernel.adapters(model);
  const base = logits(model, ids);
  const snapshot = snapshotParameters(model);
  const record = manager.create('b', 'lora', { target_modules: ['q_proj', 'v_proj'], bias: 'lora_only' });
  perturb(tf, record.handle.trainableVariables, 3);
  const adapted = logits(model, ids, { active: ['b'] });
  assert.ok(maxAbsDiff(adapted, base) > 1e-3);
  assert.equal(maxParameterDiff(model, snapshot), 0, 'base biases untouched by training the copies');
  const mixed = logits(model, ids, { perRow: [null, 'b', null] });
  assert.ok(
    maxAbsDiff(
      [mixed[0] as Float32Array, mixed[1] as Float32Array],
      [base[0] as Float32Array, adapted[1] as Float32Array],
    ) < 1e-5,
  );

  const saved = manager.save('b');
  assert.deepEqual(saved.tensors['base_model.model.model.layers.1.self_attn.v_proj.bias']?.shape, [8]);
  assert.equal(saved.config.bias, 'lora_only');
  const encoded = encodeAdapter(saved);
  for (const t of Object.values(saved.tensors)) t.dispose();

  manager.merge('b', { safe: true });
  assert.ok(maxAbsDiff(logits(model, ids), adapted) < 1e-5);
  manager.unmerge('b');
  assert.ok(maxParameterDiff(model, snapshot) <= 1e-6, 'unmerge restores the base');
  for (const [name, v] of model.parameters())
    if (name.endsWith('.bias')) assert.deepEqual(v.dataSync(), snapshot.get(name), `${name} restored exactly`);

  // Safe merge rejects a non-finite bias and changes nothing.
  const handle = record.handle as LoraHandle;
  tf.tidy(() => handle.biases[0]?.bias.assign(tf.fill([16], Number.NaN)));
  const beforeRejected = snapshotParameters(model);
  assert.throws(
    () => manager.merge('b', { safe: true }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_MERGE_NONFINITE'),
  );
  assert.equal(maxParameterDiff(model, beforeRejected), 0);

  // PEFT files may name the bias through the wrapped layer (`base_layer.bias`): accepted on load.
  const other = qwen();
  const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
  const renamed = Object.fromEntries(
    Object.entries(decoded.tensors).map(([k, t]) => [k.replace(/\.bias$/, '.base_layer.bias'), t]),
  );
  const stray = { ...renamed, 'base_model.model.model.layers.0.input_layernorm.bias': tf.zeros([16]) };
  assert.throws(
    () => kernel.adapters(other).load('bad', { config: decoded.config, tensors: stray }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_ADAPTER_KEY_UNSUPPORTED'),
  );
  stray['base_model.model.model.layers.0.input_layernorm.bias'].dispose();
  kernel.adapters(other).load('copy', { config: decoded.config, tensors: renamed });
  for (const t of Object.values(renamed)) t.dispose();
  assert.ok(maxAbsDiff(logits(other, ids, { active: ['copy'] }), adapted) <= 1e-6);
  kernel.adapters(other).dispose();
  other.dispose();
  manager.dispose();
  model.dispose();
});
