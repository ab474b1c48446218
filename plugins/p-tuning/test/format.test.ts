import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdapter, encodeAdapter, isPeftkitError, type SavedAdapter } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, logits, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import pTuning, { type PTuningConfig, type PTuningHandle, saveTrainingCheckpoint } from '@peftkit/p-tuning';
import promptTuning from '@peftkit/prompt-tuning';
import { safetensorsBytes, values } from '../../prompt-tuning/test/bytes.ts';

// PEFT interchange for P_TUNING: only the encoder output is saved (`prompt_embeddings`); a training checkpoint
// keeps the encoder so training resumes exactly.

const warnings: string[] = [];
const kernel = await createKernel({ logger: { warn: (m) => void warnings.push(m), info() {} } });
kernel.use(promptTuning);
kernel.use(pTuning);
const tf = kernel.tf;
const D = 16;
const ids = tinyBatch(2, 5);

function peftConfig(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    auto_mapping: null,
    base_model_name_or_path: 'tiny-llama',
    encoder_dropout: 0.0,
    encoder_hidden_size: 128,
    encoder_num_layers: 2,
    encoder_reparameterization_type: 'MLP',
    inference_mode: true,
    num_attention_heads: 4,
    num_layers: 2,
    num_transformer_submodules: 1,
    num_virtual_tokens: 3,
    peft_type: 'P_TUNING',
    revision: null,
    task_type: 'CAUSAL_LM',
    token_dim: D,
    ...extra,
  });
}

function roundTrip(saved: SavedAdapter): SavedAdapter {
  const encoded = encodeAdapter(saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  return decodeAdapter(tf, encoded.config, encoded.weights);
}

test('a hand-written PEFT P_TUNING file loads as a fixed prompt equal to its prompt_embeddings', () => {
  const model = createTinyLlama(tf, { seed: 7 });
  const site = model.site('model.embed_tokens');
  assert.ok(site?.kind === 'embedding', 'embedding site');
  const virtual = [11, 30, 2];
  const all = site.weight.dataSync();
  const rows = new Float32Array(virtual.flatMap((t) => Array.from(all.subarray(t * D, (t + 1) * D))));
  warnings.length = 0;
  const saved = decodeAdapter(
    tf,
    peftConfig(),
    safetensorsBytes([{ name: 'prompt_embeddings', shape: [3, D], data: rows }]),
  );
  const manager = kernel.adapters(model);
  const record = manager.load('peft', saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  assert.equal(warnings.length, 0, `a PEFT file loads without warnings: ${warnings.join(' | ')}`);
  assert.equal(
    (record.handle as PTuningHandle).encoder,
    null,
    'inference form: no encoder, as PEFT with inference_mode',
  );
  const got = logits(model, ids, { active: ['peft'] });
  const longer = logits(
    model,
    ids.map((row) => [...virtual, ...row]),
  );
  const expected = longer.map((row) => row.slice(3 * 64));
  assert.ok(
    maxAbsDiff(got, expected) < 1e-4,
    `adapter forward = base forward on [virtual tokens, ids] (${maxAbsDiff(got, expected)})`,
  );
  assert.throws(
    () => saveTrainingCheckpoint(record.ctx, record.handle as PTuningHandle, record.config as PTuningConfig),
    (e) => isPeftkitError(e, 'PEFTKIT_E_NO_ENCODER'),
    'no encoder to checkpoint',
  );
  const again = manager.save('peft');
  assert.deepEqual(Float32Array.from(again.tensors.prompt_embeddings?.dataSync() ?? []), rows, 'saved back unchanged');
  for (const t of Object.values(again.tensors)) t.dispose();
  const bad = decodeAdapter(
    tf,
    peftConfig(),
    safetensorsBytes([{ name: 'prompt_embeddings', shape: [4, D], data: values(4 * D, 1, 1) }]),
  );
  assert.throws(
    () => manager.load('bad', bad),
    (e) => isPeftkitError(e, 'PEFTKIT_E_ADAPTER_KEY_SHAPE'),
    'wrong prompt shape',
  );
  for (const t of Object.values(bad.tensors)) t.dispose();
  assert.equal(model.prompts.size, 1, 'the failed load attached nothing');
  manager.dispose();
  model.dispose();
});

test('saved adapters hold only prompt_embeddings and PEFT config fields, sorted', () => {
  const model = createTinyLlama(tf, { seed: 3 });
  const manager = kernel.adapters(model);
  manager.create('x', 'p-tuning', {
    num_virtual_tokens: 5,
    encoder_reparameterization_type: 'LSTM',
    encoder_num_layers: 1,
  });
  const saved = manager.save('x');
  assert.deepEqual(
    Object.entries(saved.tensors).map(([k, t]) => [k, t.shape]),
    [['prompt_embeddings', [5, D]]],
    'only the encoder output',
  );
  const encoded = encodeAdapter(saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  const config = JSON.parse(encoded.config) as Record<string, unknown>;
  assert.deepEqual(Object.keys(config), Object.keys(config).sort(), 'keys sorted');
  assert.deepEqual(config, {
    base_model_name_or_path: null,
    encoder_dropout: 0,
    encoder_hidden_size: D,
    encoder_num_layers: 1,
    encoder_reparameterization_type: 'LSTM',
    inference_mode: true,
    modules_to_save: null,
    num_attention_heads: 4,
    num_layers: 2,
    num_transformer_submodules: 1,
    num_virtual_tokens: 5,
    peft_type: 'P_TUNING',
    peft_version: 'peftkit-p-tuning@0.1.0',
    revision: null,
    task_type: 'CAUSAL_LM',
    token_dim: D,
  });
  manager.dispose();
  model.dispose();
});

test('a training checkpoint restores the encoder: the next training step is identical', () => {
  for (const config of [
    { num_virtual_tokens: 3, encoder_hidden_size: 8 },
    { num_virtual_tokens: 3, encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 4, task_type: 'SEQ_CLS' },
  ]) {
    const seqCls = config.task_type === 'SEQ_CLS';
    const make = () =>
      createTinyLlama(tf, { seed: 5, ...(seqCls ? { task: 'seq-cls' as const, labels: ['n', 'y'] } : {}) });
    const model = make();
    const manager = kernel.adapters(model);
    const record = manager.create('t', 'p-tuning', config);
    perturb(tf, record.handle.trainableVariables, 8);
    const checkpoint = roundTrip(
      saveTrainingCheckpoint(record.ctx, record.handle as PTuningHandle, record.config as PTuningConfig),
    );
    assert.equal(checkpoint.config.inference_mode, false, 'checkpoint marks training state');
    assert.ok(checkpoint.tensors.prompt_embeddings !== undefined, 'PEFT can still read it (prompt_embeddings kept)');
    const other = make();
    const restored = kernel.adapters(other).load('r', checkpoint);
    for (const t of Object.values(checkpoint.tensors)) t.dispose();
    const a = record.handle.trainableVariables;
    const b = restored.handle.trainableVariables;
    assert.equal(b.length, a.length, 'same trainable variables (encoder and head copy)');
    assert.ok((restored.handle as PTuningHandle).encoder !== null, 'the encoder is back');
    const loss = (m: typeof model, name: string) => () =>
      tf.tidy(() => {
        const out = seqCls
          ? m.classify({ ids }, { selection: { active: [name] } })
          : m.forward({ ids }, { selection: { active: [name] } });
        return tf.mean(tf.square(out)) as ReturnType<typeof tf.scalar>;
      });
    const ga = tf.variableGrads(loss(model, 't'), [...a]);
    const gb = tf.variableGrads(loss(other, 'r'), [...b]);
    assert.ok(Math.abs((ga.value.dataSync()[0] as number) - (gb.value.dataSync()[0] as number)) < 1e-6, 'same loss');
    a.forEach((v, i) => {
      const x = ga.grads[v.name]?.dataSync() ?? new Float32Array();
      const y = gb.grads[(b[i] as typeof v).name]?.dataSync() ?? new Float32Array();
      assert.equal(x.length, y.length, `gradient ${i} shape`);
      x.forEach((g, j) => {
        assert.ok(Math.abs(g - (y[j] as number)) < 1e-5, `gradient ${i}[${j}]: ${g} vs ${y[j]}`);
      });
    });
    for (const g of [ga, gb]) {
      g.value.dispose();
      for (const t of Object.values(g.grads)) t.dispose();
    }
    manager.dispose();
    kernel.adapters(other).dispose();
    model.dispose();
    other.dispose();
  }
});
