import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';
import { llama2cToHf, readLlama2cCheckpoint } from '../packages/models/src/convert/llama2c.ts';
import { isPeftkitError } from '../packages/io/src/errors.ts';
import { Llama2cTokenizer } from '../packages/models/src/tokenizers/llama2c.ts';
import { greedy, hfLlamaReference, llama2cReference, type ReferenceModel } from './support/llama-reference.ts';
import { fixturePath } from './support/shared.ts';

const MODEL = 'stories260K/stories260K.bin';
const TOKENIZER = 'stories260K/tok512.bin';
const EXPECTED_STORY = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';

interface Header {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number; // negative: untied classifier
  seqLen: number;
}

const SMALL: Header = { dim: 16, hidden: 24, layers: 2, heads: 4, kvHeads: 2, vocab: -20, seqLen: 12 };

/** Float count of a version-0 file body, spelled out array by array as the README lists them. */
function bodyFloats(h: Header): number {
  const vocab = Math.abs(h.vocab);
  const kvDim = (h.dim / h.heads) * h.kvHeads;
  const headDim = h.dim / h.heads;
  const perLayer = h.dim + h.dim * h.dim + 2 * kvDim * h.dim + h.dim * h.dim + h.dim + 3 * h.hidden * h.dim;
  return vocab * h.dim + h.layers * perLayer + h.dim + h.seqLen * headDim + (h.vocab < 0 ? vocab * h.dim : 0);
}

/** A checkpoint file with deterministic pseudo-random weights in [-scale, scale]. */
function buildCheckpoint(h: Header, scale = 0.3, extraFloats = 0): Uint8Array {
  const floats = bodyFloats(h) + extraFloats;
  const bytes = new Uint8Array(28 + floats * 4);
  const view = new DataView(bytes.buffer);
  for (const [i, v] of [h.dim, h.hidden, h.layers, h.heads, h.kvHeads, h.vocab, h.seqLen].entries())
    view.setInt32(i * 4, v, true);
  let state = 12345;
  for (let i = 0; i < floats; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    view.setFloat32(28 + i * 4, (state / 2147483648 - 0.5) * 2 * scale, true);
  }
  return bytes;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (isPeftkitError(error)) return error.code;
    throw error;
  }
  return undefined;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/** Feeds the same token sequence to both models and returns the largest logit difference seen. */
function compareModels(a: ReferenceModel, b: ReferenceModel, tokens: number[]): number {
  let worst = 0;
  tokens.forEach((token, pos) => {
    worst = Math.max(worst, maxAbsDiff(a.logits(token, pos), b.logits(token, pos)));
  });
  return worst;
}

test('llama2c checkpoint: header, views and sizes (synthetic, untied, GQA)', () => {
  const bytes = buildCheckpoint(SMALL);
  const { config, weights } = readLlama2cCheckpoint(bytes);
  assert.deepEqual(config, {
    dim: 16,
    hiddenDim: 24,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    vocabSize: 20,
    seqLen: 12,
    sharedClassifier: false,
  });
  assert.equal(weights.tokenEmbedding.length, 20 * 16);
  assert.equal(weights.wk.length, 2 * 8 * 16);
  assert.equal(weights.w2.length, 2 * 16 * 24);
  assert.equal(weights.freqCisReal.length, 12 * 2);
  assert.equal(weights.wcls?.length, 20 * 16);
  const view = new DataView(bytes.buffer);
  assert.equal(weights.tokenEmbedding[0], view.getFloat32(28, true));
  assert.equal(weights.wcls?.at(-1), view.getFloat32(bytes.length - 4, true));
  // The reader does not depend on the input's alignment.
  const shifted = new Uint8Array(bytes.length + 1).subarray(1);
  shifted.set(bytes);
  assert.deepEqual(readLlama2cCheckpoint(shifted).weights.rmsFinal, weights.rmsFinal);
});

test('llama2c checkpoint: malformed files raise coded errors', () => {
  const good = buildCheckpoint(SMALL);
  const withHeader = (index: number, value: number): Uint8Array => {
    const copy = good.slice();
    new DataView(copy.buffer).setInt32(index * 4, value, true);
    return copy;
  };
  const cases: [string, Uint8Array, string][] = [
    ['empty', new Uint8Array(0), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_SIZE'],
    ['short header', good.slice(0, 27), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_SIZE'],
    ['truncated body', good.slice(0, good.length - 4), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_SIZE'],
    ['trailing bytes', buildCheckpoint(SMALL, 0.3, 1), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_SIZE'],
    ['tied header on an untied body', withHeader(5, 20), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_SIZE'],
    ['zero dim', withHeader(0, 0), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_HEADER'],
    ['negative layers', withHeader(2, -2), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_HEADER'],
    ['dim not divisible by heads', withHeader(3, 3), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_HEADER'],
    ['heads not a multiple of kv heads', withHeader(4, 3), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_HEADER'],
    ['odd head_dim', withHeader(3, 16), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_HEADER'],
    ['versioned export', withHeader(0, 0x616b3432), 'PEFTKIT_E_LLAMA2C_CHECKPOINT_VERSION'],
  ];
  for (const [name, bytes, code] of cases)
    assert.equal(
      codeOf(() => readLlama2cCheckpoint(bytes)),
      code,
      name,
    );
});

test('llama2cToHf: names, shapes, tied/untied head and the RoPE row permutation', () => {
  const ckpt = readLlama2cCheckpoint(buildCheckpoint(SMALL));
  const hf = llama2cToHf(ckpt);
  assert.equal(hf.config.tie_word_embeddings, false);
  assert.deepEqual(hf.config.architectures, ['LlamaForCausalLM']);
  assert.equal(hf.config.num_key_value_heads, 2);
  assert.equal(hf.config.max_position_embeddings, 12);
  assert.equal(hf.tensors.size, 1 + 2 * 9 + 1 + 1);
  assert.deepEqual(hf.tensors.get('model.layers.1.self_attn.k_proj.weight')?.shape, [8, 16]);
  assert.deepEqual(hf.tensors.get('model.layers.0.mlp.down_proj.weight')?.shape, [16, 24]);
  assert.deepEqual(hf.tensors.get('model.layers.0.mlp.up_proj.weight')?.data, ckpt.weights.w3.subarray(0, 24 * 16));
  assert.deepEqual(hf.tensors.get('lm_head.weight')?.data, ckpt.weights.wcls);
  // head_dim 4: llama2.c rows (0,1,2,3) of each head become HF rows (0,2,1,3).
  const row = (w: Float32Array | undefined, r: number): number[] => Array.from(w?.subarray(r * 16, r * 16 + 16) ?? []);
  const q = hf.tensors.get('model.layers.0.self_attn.q_proj.weight')?.data;
  for (const [hfRow, l2cRow] of [
    [0, 0],
    [1, 2],
    [2, 1],
    [3, 3],
    [5, 6],
    [14, 13],
  ] as const) {
    assert.deepEqual(row(q, hfRow), row(ckpt.weights.wq, l2cRow), `q row ${hfRow}`);
  }
  const tied = llama2cToHf(readLlama2cCheckpoint(buildCheckpoint({ ...SMALL, vocab: 20 })));
  assert.equal(tied.config.tie_word_embeddings, true);
  assert.equal(tied.tensors.has('lm_head.weight'), false);
});

test('reference forward: llama2.c layout and converted HF layout agree (synthetic, untied, GQA)', () => {
  const ckpt = readLlama2cCheckpoint(buildCheckpoint(SMALL));
  const hf = llama2cToHf(ckpt);
  const tokens = [1, 5, 19, 7, 7, 0, 3, 12, 4, 9, 2, 11];
  assert.ok(compareModels(llama2cReference(ckpt), hfLlamaReference(hf.config, hf.tensors), tokens) <= 1e-5);
  // Without the permutation the HF-layout model computes something else: the check has teeth.
  const unpermuted = new Map(hf.tensors);
  for (let i = 0; i < 2; i++) {
    for (const [name, w] of [
      ['q', ckpt.weights.wq.subarray(i * 256, (i + 1) * 256)],
      ['k', ckpt.weights.wk.subarray(i * 128, (i + 1) * 128)],
    ] as const) {
      const key = `model.layers.${i}.self_attn.${name}_proj.weight`;
      unpermuted.set(key, { shape: hf.tensors.get(key)?.shape ?? [], data: w });
    }
  }
  assert.ok(compareModels(llama2cReference(ckpt), hfLlamaReference(hf.config, unpermuted), tokens) > 1e-3);
});

test('stories260K: header, conversion and identical logits in both layouts', () => {
  const path = fixturePath(MODEL);
  const bytes = readFileSync(path);
  const ckpt = readLlama2cCheckpoint(bytes);
  assert.deepEqual(ckpt.config, {
    dim: 64,
    hiddenDim: 172,
    nLayers: 5,
    nHeads: 8,
    nKvHeads: 4,
    vocabSize: 512,
    seqLen: 512,
    sharedClassifier: true,
  });
  assert.equal(bytes.length, 28 + 264128 * 4);
  const hf = llama2cToHf(ckpt);
  assert.equal(hf.tensors.has('lm_head.weight'), false);
  assert.equal(hf.config.tie_word_embeddings, true);
  let params = 0;
  for (const tensor of hf.tensors.values()) params += tensor.data.length;
  assert.equal(params, 264128 - 2 * 512 * 4); // everything but the unused freq_cis tables
  const original = llama2cReference(ckpt);
  const converted = hfLlamaReference(hf.config, hf.tensors);
  // Feed the greedy continuation so attention sees realistic contexts.
  const tokens = [1, ...greedy(llama2cReference(ckpt), 1, 29)];
  assert.ok(compareModels(original, converted, tokens) <= 1e-5);
});

test('stories260K: greedy decoding from BOS tells the expected story', () => {
  const modelPath = fixturePath(MODEL);
  const tokenizerPath = fixturePath(TOKENIZER);
  const hf = llama2cToHf(readLlama2cCheckpoint(readFileSync(modelPath)));
  const tokenizer = Llama2cTokenizer.fromBytes(readFileSync(tokenizerPath), { vocabSize: hf.config.vocab_size });
  const ids = greedy(hfLlamaReference(hf.config, hf.tensors), tokenizer.bosId, 100);
  const text = tokenizer.decode([tokenizer.bosId, ...ids]);
  assert.ok(text.startsWith(EXPECTED_STORY), JSON.stringify(text));
  // The model was trained on this tokenizer's output, so its own text re-encodes to the same ids.
  assert.deepEqual(tokenizer.encode(tokenizer.decode(ids)), ids);
});
