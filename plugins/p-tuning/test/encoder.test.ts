import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ForwardCall, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama } from '@peftkit/testing';
import pTuning, {
  encodePrompt,
  encoderParameters,
  type PromptEncoder,
  type PTuningHandle,
  promptEmbeddings,
} from '@peftkit/p-tuning';
import promptTuning from '@peftkit/prompt-tuning';

// The encoder's math against a plain-JS PyTorch-style reference (MLP; bidirectional, stacked LSTM + MLP head), and
// its gradients against finite differences.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(promptTuning);
kernel.use(pTuning);
const tf = kernel.tf;
const INFERENCE: ForwardCall = { groups: [], batchSize: 1, training: false, rng: null };

type Matrix = number[][];
const read = (v: { arraySync(): unknown }) => v.arraySync() as number[][] | number[];
const linear = (x: Matrix, w: Matrix, b: number[]): Matrix =>
  x.map((row) => w.map((wr, o) => wr.reduce((s, wi, i) => s + wi * (row[i] as number), b[o] as number)));
const relu = (x: Matrix): Matrix => x.map((r) => r.map((v) => Math.max(0, v)));
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** torch.nn.LSTM, one direction, gates i, f, g, o. */
function lstmRef(x: Matrix, wih: Matrix, whh: Matrix, bih: number[], bhh: number[], reverse: boolean): Matrix {
  const hidden = whh[0]?.length ?? 0;
  let h = new Array<number>(hidden).fill(0);
  let c = new Array<number>(hidden).fill(0);
  const out: Matrix = new Array(x.length);
  for (let n = 0; n < x.length; n++) {
    const t = reverse ? x.length - 1 - n : n;
    const gates = wih.map(
      (w, g) =>
        w.reduce((s, wi, i) => s + wi * (x[t]?.[i] as number), (bih[g] as number) + (bhh[g] as number)) +
        (whh[g] as number[]).reduce((s, wi, j) => s + wi * (h[j] as number), 0),
    );
    const gate = (k: number, j: number) => gates[k * hidden + j] as number;
    c = c.map((cj, j) => sigmoid(gate(1, j)) * cj + sigmoid(gate(0, j)) * Math.tanh(gate(2, j)));
    h = c.map((cj, j) => sigmoid(gate(3, j)) * Math.tanh(cj));
    out[t] = h;
  }
  return out;
}

function encoderRef(encoder: PromptEncoder): Matrix {
  const p = Object.fromEntries(encoderParameters(encoder).map(([k, v]) => [k.replace('prompt_encoder.', ''), read(v)]));
  let x = p['embedding.weight'] as Matrix;
  for (let k = 0; k < encoder.lstm.length; k++) {
    const dir = (s: string) =>
      lstmRef(
        x,
        p[`lstm_head.weight_ih_l${k}${s}`] as Matrix,
        p[`lstm_head.weight_hh_l${k}${s}`] as Matrix,
        p[`lstm_head.bias_ih_l${k}${s}`] as number[],
        p[`lstm_head.bias_hh_l${k}${s}`] as number[],
        s !== '',
      );
    const f = dir('');
    const b = dir('_reverse');
    x = f.map((row, t) => [...row, ...(b[t] as number[])]);
  }
  for (let i = 0; i < encoder.mlp.length; i++) {
    x = linear(x, p[`mlp_head.${2 * i}.weight`] as Matrix, p[`mlp_head.${2 * i}.bias`] as number[]);
    if (i < encoder.mlp.length - 1) x = relu(x);
  }
  return x;
}

for (const config of [
  { num_virtual_tokens: 4, encoder_hidden_size: 6 },
  { num_virtual_tokens: 5, encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 3, encoder_num_layers: 2 },
]) {
  test(
    `${config.encoder_reparameterization_type ?? 'MLP'} encoder output (what PEFT saves) = plain-JS ` + `reference`,
    () => {
      const model = createTinyLlama(tf, { seed: 2 });
      const manager = kernel.adapters(model);
      const handle = manager.create('e', 'p-tuning', config).handle as PTuningHandle;
      const encoder = handle.encoder as PromptEncoder;
      const names = encoderParameters(encoder).map(([k]) => k);
      if (encoder.type === 'MLP')
        assert.deepEqual(
          names.slice(1),
          ['0', '2', '4'].flatMap((i) => [`prompt_encoder.mlp_head.${i}.weight`, `prompt_encoder.mlp_head.${i}.bias`]),
        );
      else
        assert.equal(
          names.filter((k) => k.includes('lstm_head')).length,
          2 * 2 * 4,
          '2 layers × 2 directions × 4 tensors',
        );
      assert.equal(handle.trainableVariables.length, names.length, 'every encoder parameter is trainable');
      const got = promptEmbeddings(manager.get('e').ctx, handle);
      assert.deepEqual(got.shape, [config.num_virtual_tokens, 16], 'prompt_embeddings [T, token_dim]');
      const expected = encoderRef(encoder).flat();
      const values = got.dataSync();
      got.dispose();
      expected.forEach((v, i) => {
        assert.ok(Math.abs(v - (values[i] as number)) < 1e-5, `element ${i}: ${values[i]} vs reference ${v}`);
      });
      manager.dispose();
      model.dispose();
    },
  );
}

test('LSTM encoder gradients match finite differences (every parameter kind)', () => {
  const model = createTinyLlama(tf, { seed: 2 });
  const manager = kernel.adapters(model);
  const encoder = (
    manager.create('g', 'p-tuning', {
      num_virtual_tokens: 3,
      encoder_reparameterization_type: 'LSTM',
      encoder_hidden_size: 3,
    }).handle as PTuningHandle
  ).encoder as PromptEncoder;
  const weights = tf.tensor2d(new Rng(5).normalArray(3 * 16), [3, 16]);
  const objective = () => tf.sum(tf.mul(encodePrompt(tf, encoder, INFERENCE), weights)) as ReturnType<typeof tf.scalar>;
  const params = encoderParameters(encoder);
  const { value, grads } = tf.variableGrads(
    objective,
    params.map(([, v]) => v),
  );
  value.dispose();
  const eps = 1e-2;
  for (const [key, v] of params) {
    const g = grads[v.name];
    assert.ok(g !== undefined, `gradient for ${key}`);
    const analytic = g.dataSync();
    const flat = Float32Array.from(v.dataSync());
    for (const index of [0, flat.length - 1]) {
      const at = (delta: number) => {
        const moved = Float32Array.from(flat);
        moved[index] = (moved[index] as number) + delta;
        tf.tidy(() => v.assign(tf.tensor(moved, v.shape)));
        return tf.tidy(() => objective().dataSync()[0] as number);
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      tf.tidy(() => v.assign(tf.tensor(flat, v.shape)));
      const a = analytic[index] as number;
      assert.ok(
        Math.abs(a - numeric) <= 2e-2 * Math.max(1, Math.abs(numeric)),
        `${key}[${index}]: analytic ${a} vs numeric ${numeric}`,
      );
    }
  }
  for (const g of Object.values(grads)) g.dispose();
  weights.dispose();
  manager.dispose();
  model.dispose();
});

test('LSTM dropout acts between layers only while training, with masks from the call rng', () => {
  const model = createTinyLlama(tf, { seed: 2 });
  const manager = kernel.adapters(model);
  const config = {
    num_virtual_tokens: 3,
    encoder_reparameterization_type: 'LSTM',
    encoder_hidden_size: 4,
    encoder_dropout: 0.5,
  };
  const encoder = (manager.create('d', 'p-tuning', config).handle as PTuningHandle).encoder as PromptEncoder;
  const run = (call: ForwardCall) => tf.tidy(() => Array.from(encodePrompt(tf, encoder, call).dataSync()));
  const training = (seed: number): ForwardCall => ({ ...INFERENCE, training: true, rng: new Rng(seed) });
  assert.deepEqual(run(training(1)), run(training(1)), 'same seed, same masks');
  assert.notDeepEqual(run(training(1)), run(INFERENCE), 'dropout changes the training output');
  assert.deepEqual(run({ ...INFERENCE, rng: new Rng(1) }), run(INFERENCE), 'no dropout at inference');
  manager.dispose();
  model.dispose();
});
