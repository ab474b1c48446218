import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DenseLinearBase, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { LlamaModel } from '@peftkit/models';
import { createTinyLlama, logits, maxAbsDiff, TINY_LLAMA_CONFIG, tinyBatch } from '@peftkit/testing';
import { dequantize4, QuantizedLinearBase, quantize4, quantizeModel } from '@peftkit/qlora';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf = kernel.tf;
type Tensor2D = ReturnType<typeof tf.tensor2d>;

const OUT = 24;
const IN = 40;
const weight = new Rng(11).normalArray(OUT * IN, 0, 0.3);
const options = { quantType: 'nf4', blockSize: 64, doubleQuant: true } as const;

/** The dense reference: a DenseLinearBase over exactly the dequantized weight. */
function denseTwin(base: QuantizedLinearBase, bias: Float32Array | null): DenseLinearBase {
  const w = tf.variable(tf.tensor2d(dequantize4(base.state), [OUT, IN]), false);
  return new DenseLinearBase(tf, w, 'out_in', bias === null ? null : tf.variable(tf.tensor1d(bias), false));
}

test('forward equals the dense matmul with the dequantized weight; tensors do not leak', () => {
  const bias = new Rng(2).normalArray(OUT, 0, 1);
  const base = QuantizedLinearBase.fromWeight(tf, weight, [OUT, IN], options, tf.variable(tf.tensor1d(bias), false));
  const dense = denseTwin(base, bias);
  const x = tf.tensor2d(new Rng(3).normalArray(5 * IN), [5, IN]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const y = base.forward(x);
    const ref = tf.tidy(() => dense.forward(x));
    assert.deepEqual(y.shape, [5, OUT], 'output shape');
    assert.ok(
      maxAbsDiff([y.dataSync() as Float32Array], [ref.dataSync() as Float32Array]) <= 1e-5,
      'same values as the dense twin',
    );
    y.dispose();
    ref.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind by forward');
  x.dispose();
  base.dispose();
  dense.dispose();
});

test('customGrad: dx equals the dense base gradient, no gradient reaches W, memory stays flat', () => {
  const base = QuantizedLinearBase.fromWeight(tf, weight, [OUT, IN], options, null);
  const dense = denseTwin(base, null);
  const x = tf.tensor2d(new Rng(5).normalArray(6 * IN), [6, IN]);
  const r = tf.tensor2d(new Rng(6).normalArray(6 * OUT), [6, OUT]);
  const loss = (b: { forward(x: Tensor2D): Tensor2D }) => (input: ReturnType<typeof tf.tensor>) =>
    tf.sum(tf.mul(b.forward(input as Tensor2D), r));
  const before = tf.memory().numTensors;
  const dq = tf.grad(loss(base))(x);
  const dd = tf.grad(loss(dense))(x);
  assert.ok(maxAbsDiff([dq.dataSync() as Float32Array], [dd.dataSync() as Float32Array]) <= 1e-4, 'dx = dy·W');
  assert.ok(
    maxAbsDiff([dq.dataSync() as Float32Array], [new Float32Array(dq.size)]) > 0.1,
    'the gradient is not trivially zero',
  );
  dq.dispose();
  dd.dispose();
  assert.equal(tf.memory().numTensors, before, 'backward frees the re-dequantized weight');
  assert.deepEqual(base.variables, [], 'the packed weight is not a trainable variable');
  x.dispose();
  r.dispose();
  base.dispose();
  dense.dispose();
});

test('weightOutIn / assignOutIn: dequantize, requantize (a dequantized weight is a fixed point without DQ)', () => {
  const plain = { ...options, doubleQuant: false };
  const base = QuantizedLinearBase.fromWeight(tf, weight, [OUT, IN], plain, null);
  const packed = base.state.packed.slice();
  const w = base.weightOutIn();
  assert.deepEqual(w.shape, [OUT, IN], 'out × in');
  base.assignOutIn(w);
  assert.deepEqual(base.state.packed, packed, 'requantizing the dequantized weight gives the same codes');
  const shifted = tf.add(w, 0.5) as Tensor2D;
  base.assignOutIn(shifted);
  const expected = quantize4(shifted.dataSync() as Float32Array, [OUT, IN], plain);
  assert.deepEqual(base.state.packed, expected.packed, 'assignOutIn quantizes the new weight with the same settings');
  assert.throws(
    () => base.assignOutIn(tf.zeros([IN, OUT]) as Tensor2D),
    (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_QLORA_SHAPE',
    'shape checked',
  );
  tf.dispose([w, shifted]);
  base.dispose();
});

test('quantizeModel: every non-head linear, bytes reported, dense weights freed, idempotent, outputs close', () => {
  const model = createTinyLlama(tf, { seed: 3 });
  const ids = tinyBatch(2, 5);
  const dense = logits(model, ids);
  const params = model.parameters().size;
  const tensors = tf.memory().numTensors;
  const report = quantizeModel(tf, model);
  const linears = [...model.sites()].filter((s) => s.kind === 'linear');
  assert.equal(report.quantized.length, linears.length - 1, 'all linears but lm_head');
  assert.ok(!report.quantized.includes('lm_head'), 'head excluded');
  const {
    hidden_size: d,
    intermediate_size: m,
    num_key_value_heads: kv,
    num_attention_heads: h,
    num_hidden_layers: L,
  } = TINY_LLAMA_CONFIG;
  const weights = L * (2 * d * d + 2 * d * ((d / h) * kv) + 3 * d * m);
  assert.equal(report.bytesBefore, 4 * weights, 'float32 bytes of the quantized weights');
  assert.ok(report.bytesAfter < report.bytesBefore / 6, `packed ${report.bytesAfter} B vs ${report.bytesBefore} B`);
  assert.equal(model.parameters().size, params - report.quantized.length, 'freed weights leave parameters()');
  assert.equal(tf.memory().numTensors, tensors - report.quantized.length, 'dense weights disposed');
  const quantized = logits(model, ids);
  const diff = maxAbsDiff(dense, quantized);
  assert.ok(diff > 0 && diff < 1.5, `quantized logits stay near the dense ones (${diff})`);
  const again = quantizeModel(tf, model);
  assert.deepEqual(again.quantized, [], 'second call quantizes nothing');
  assert.equal(again.alreadyQuantized.length, report.quantized.length, 'and reports the quantized sites');
  assert.equal(maxAbsDiff(quantized, logits(model, ids)), 0, 'idempotent');
  assert.throws(
    () => quantizeModel(tf, model, { quantType: 'fp4' }),
    (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_QLORA_QUANT_MISMATCH',
    'other settings on a quantized model are refused',
  );
  model.dispose();
});

test('quantizeModel: chosen targets only; a tied head is left dense', () => {
  const model = createTinyLlama(tf, { seed: 3 });
  const report = quantizeModel(tf, model, {
    targetModules: ['q_proj', 'down_proj'],
    quantType: 'fp4',
    doubleQuant: false,
  });
  assert.deepEqual(
    report.quantized.sort(),
    [
      'model.layers.0.mlp.down_proj',
      'model.layers.0.self_attn.q_proj',
      'model.layers.1.mlp.down_proj',
      'model.layers.1.self_attn.q_proj',
    ],
    'exact / suffix match',
  );
  model.dispose();
  const tied = new LlamaModel(
    tf,
    { ...TINY_LLAMA_CONFIG, tie_word_embeddings: true },
    { kind: 'random', rng: new Rng(1), std: 0.2 },
  );
  const r = quantizeModel(tf, tied, { targetModules: ['lm_head'] });
  assert.deepEqual(r.skippedTied, ['lm_head'], 'tied lm_head skipped');
  assert.deepEqual(r.quantized, [], 'nothing quantized');
  tied.dispose();
});
