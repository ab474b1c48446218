/**
 * Independent plain-loop Llama forward pass, one token at a time with its own KV cache. It is the yardstick for
 * the tfjs model, so it favours the obvious over the fast: float32 storage, float64 accumulation, no tfjs.
 *
 * Two entry points share the loop but not the weight layout:
 * - `hfLlamaReference`: Hugging Face names and layout, RoPE on halves (j, j + headDim/2);
 * - `llama2cReference`: the raw llama2.c checkpoint, RoPE on adjacent pairs (2j, 2j+1), as run.c does.
 * Equal logits from both on a converted checkpoint prove the q/k row permutation.
 */
import type { Llama2cCheckpoint } from '../../packages/models/src/convert/llama2c.ts';

export interface ReferenceModel {
  readonly vocabSize: number;
  /** Logits for `tokenId` at `pos`; positions 0..pos-1 must have been fed before (they fill the cache). */
  logits(tokenId: number, pos: number): Float32Array;
}

/** The parts of a Hugging Face LlamaConfig the forward pass reads. */
export interface ReferenceHfConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
}

export interface ReferenceTensor {
  shape: readonly number[];
  data: Float32Array;
}

interface Layer {
  attnNorm: Float32Array;
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array;
  ffnNorm: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  down: Float32Array;
}

interface Weights {
  dim: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  maxPos: number;
  eps: number;
  theta: number;
  rope: 'half' | 'pairs';
  embed: Float32Array;
  layers: Layer[];
  finalNorm: Float32Array;
  head: Float32Array;
}

/** y[r] = sum_c W[r, c] x[c] for row-major W [rows, cols]. */
function matvec(w: Float32Array, x: Float32Array, rows: number, cols: number): Float32Array {
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += (w[r * cols + c] as number) * (x[c] as number);
    y[r] = sum;
  }
  return y;
}

function rmsnorm(x: Float32Array, weight: Float32Array, eps: number): Float32Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * scale * (weight[i] as number));
}

/** Rotates every head of `v` (heads × headDim) in place for position `pos`. */
function rope(
  v: Float32Array,
  heads: number,
  headDim: number,
  pos: number,
  theta: number,
  style: 'half' | 'pairs',
): void {
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      const angle = pos / theta ** ((2 * j) / headDim);
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      // The two coordinates that rotate together with frequency j.
      const a = h * headDim + (style === 'half' ? j : 2 * j);
      const b = style === 'half' ? a + half : a + 1;
      const x0 = v[a] as number;
      const x1 = v[b] as number;
      v[a] = x0 * cos - x1 * sin;
      v[b] = x0 * sin + x1 * cos;
    }
  }
}

function createModel(w: Weights): ReferenceModel {
  const headDim = w.dim / w.heads;
  const kvDim = headDim * w.kvHeads;
  const group = w.heads / w.kvHeads;
  const keys = w.layers.map(() => new Float32Array(w.maxPos * kvDim));
  const values = w.layers.map(() => new Float32Array(w.maxPos * kvDim));
  return {
    vocabSize: w.vocab,
    logits(tokenId: number, pos: number): Float32Array {
      if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= w.vocab) throw new RangeError(`token ${tokenId}`);
      if (!Number.isInteger(pos) || pos < 0 || pos >= w.maxPos) throw new RangeError(`position ${pos}`);
      let x = w.embed.slice(tokenId * w.dim, (tokenId + 1) * w.dim);
      w.layers.forEach((layer, l) => {
        const xn = rmsnorm(x, layer.attnNorm, w.eps);
        const q = matvec(layer.wq, xn, w.dim, w.dim);
        const k = matvec(layer.wk, xn, kvDim, w.dim);
        const v = matvec(layer.wv, xn, kvDim, w.dim);
        rope(q, w.heads, headDim, pos, w.theta, w.rope);
        rope(k, w.kvHeads, headDim, pos, w.theta, w.rope);
        const kc = keys[l] as Float32Array;
        const vc = values[l] as Float32Array;
        kc.set(k, pos * kvDim);
        vc.set(v, pos * kvDim);
        const attn = new Float32Array(w.dim);
        for (let h = 0; h < w.heads; h++) {
          const kvOff = Math.floor(h / group) * headDim;
          const scores = new Float64Array(pos + 1);
          for (let t = 0; t <= pos; t++) {
            let dot = 0;
            for (let d = 0; d < headDim; d++)
              dot += (q[h * headDim + d] as number) * (kc[t * kvDim + kvOff + d] as number);
            scores[t] = dot / Math.sqrt(headDim);
          }
          const max = Math.max(...scores);
          let total = 0;
          for (let t = 0; t <= pos; t++) {
            scores[t] = Math.exp((scores[t] as number) - max);
            total += scores[t] as number;
          }
          for (let d = 0; d < headDim; d++) {
            let acc = 0;
            for (let t = 0; t <= pos; t++)
              acc += ((scores[t] as number) / total) * (vc[t * kvDim + kvOff + d] as number);
            attn[h * headDim + d] = acc;
          }
        }
        const o = matvec(layer.wo, attn, w.dim, w.dim);
        x = x.map((xi, i) => xi + (o[i] as number));
        const hn = rmsnorm(x, layer.ffnNorm, w.eps);
        const g = matvec(layer.gate, hn, w.hidden, w.dim);
        const u = matvec(layer.up, hn, w.hidden, w.dim);
        // SwiGLU: silu(gate) * up.
        const act = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * (u[i] as number));
        const down = matvec(layer.down, act, w.dim, w.hidden);
        x = x.map((xi, i) => xi + (down[i] as number));
      });
      return matvec(w.head, rmsnorm(x, w.finalNorm, w.eps), w.vocab, w.dim);
    },
  };
}

function tensor(tensors: ReadonlyMap<string, ReferenceTensor>, name: string, shape: readonly number[]): Float32Array {
  const t = tensors.get(name);
  if (t === undefined) throw new Error(`missing tensor ${name}`);
  if (t.shape.join() !== shape.join() || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new Error(`${name}: shape [${t.shape}] (${t.data.length} values), expected [${shape}]`);
  }
  return t.data;
}

/** Forward pass over Hugging Face LlamaForCausalLM tensors (names and [out, in] layout of transformers). */
export function hfLlamaReference(
  config: ReferenceHfConfig,
  tensors: ReadonlyMap<string, ReferenceTensor>,
): ReferenceModel {
  const dim = config.hidden_size;
  const hidden = config.intermediate_size;
  const kvDim = (dim / config.num_attention_heads) * config.num_key_value_heads;
  const vocab = config.vocab_size;
  const embed = tensor(tensors, 'model.embed_tokens.weight', [vocab, dim]);
  const layers: Layer[] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    layers.push({
      attnNorm: tensor(tensors, `${p}.input_layernorm.weight`, [dim]),
      wq: tensor(tensors, `${p}.self_attn.q_proj.weight`, [dim, dim]),
      wk: tensor(tensors, `${p}.self_attn.k_proj.weight`, [kvDim, dim]),
      wv: tensor(tensors, `${p}.self_attn.v_proj.weight`, [kvDim, dim]),
      wo: tensor(tensors, `${p}.self_attn.o_proj.weight`, [dim, dim]),
      ffnNorm: tensor(tensors, `${p}.post_attention_layernorm.weight`, [dim]),
      gate: tensor(tensors, `${p}.mlp.gate_proj.weight`, [hidden, dim]),
      up: tensor(tensors, `${p}.mlp.up_proj.weight`, [hidden, dim]),
      down: tensor(tensors, `${p}.mlp.down_proj.weight`, [dim, hidden]),
    });
  }
  return createModel({
    dim,
    hidden,
    heads: config.num_attention_heads,
    kvHeads: config.num_key_value_heads,
    vocab,
    maxPos: config.max_position_embeddings,
    eps: config.rms_norm_eps,
    theta: config.rope_theta,
    rope: 'half',
    embed,
    layers,
    finalNorm: tensor(tensors, 'model.norm.weight', [dim]),
    head: config.tie_word_embeddings ? embed : tensor(tensors, 'lm_head.weight', [vocab, dim]),
  });
}

/** Forward pass over an unconverted llama2.c checkpoint, exactly as run.c computes it (eps 1e-5, θ 10000). */
export function llama2cReference(ckpt: Llama2cCheckpoint): ReferenceModel {
  const c = ckpt.config;
  const w = ckpt.weights;
  const kvDim = (c.dim / c.nHeads) * c.nKvHeads;
  const slice = (a: Float32Array, i: number, size: number): Float32Array => a.subarray(i * size, (i + 1) * size);
  const layers: Layer[] = [];
  for (let i = 0; i < c.nLayers; i++) {
    layers.push({
      attnNorm: slice(w.rmsAtt, i, c.dim),
      wq: slice(w.wq, i, c.dim * c.dim),
      wk: slice(w.wk, i, kvDim * c.dim),
      wv: slice(w.wv, i, kvDim * c.dim),
      wo: slice(w.wo, i, c.dim * c.dim),
      ffnNorm: slice(w.rmsFfn, i, c.dim),
      gate: slice(w.w1, i, c.hiddenDim * c.dim),
      up: slice(w.w3, i, c.hiddenDim * c.dim),
      down: slice(w.w2, i, c.dim * c.hiddenDim),
    });
  }
  const head = c.sharedClassifier ? w.tokenEmbedding : w.wcls;
  if (head === undefined) throw new Error('untied checkpoint without classifier');
  return createModel({
    dim: c.dim,
    hidden: c.hiddenDim,
    heads: c.nHeads,
    kvHeads: c.nKvHeads,
    vocab: c.vocabSize,
    maxPos: c.seqLen,
    eps: 1e-5,
    theta: 10000,
    rope: 'pairs',
    embed: w.tokenEmbedding,
    layers,
    finalNorm: w.rmsFinal,
    head,
  });
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

/** Greedy decoding from `start` (usually BOS): returns the `steps` generated ids. */
export function greedy(model: ReferenceModel, start: number, steps: number): number[] {
  const out: number[] = [];
  let token = start;
  for (let pos = 0; pos < steps; pos++) {
    token = argmax(model.logits(token, pos));
    out.push(token);
  }
  return out;
}
