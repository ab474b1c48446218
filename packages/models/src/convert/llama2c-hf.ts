import type { Llama2cCheckpoint } from './llama2c.ts';

/** The Hugging Face `config.json` of a LlamaForCausalLM. */
export interface HfLlamaConfig {
  architectures: ['LlamaForCausalLM'];
  model_type: 'llama';
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
  hidden_act: 'silu';
  bos_token_id: number;
  eos_token_id: number;
  torch_dtype: 'float32';
}

export interface HfTensor {
  shape: number[];
  data: Float32Array;
}

export interface HfWeights {
  config: HfLlamaConfig;
  /** Hugging Face parameter names, in the order a writer should emit them. */
  tensors: Map<string, HfTensor>;
}

/**
 * llama2.c rotates adjacent pairs (2j, 2j+1) of each head; Hugging Face rotates halves (j, j + headDim/2).
 * Reordering each head's rows as [even rows..., odd rows...] makes the two the same computation; this is
 * llama2.c export.py's `view(heads, headDim/2, 2, in).transpose(1, 2)`. Only q and k see RoPE.
 */
export function permuteRopeRows(w: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let p = 0; p < 2; p++) {
        const from = (h * headDim + 2 * j + p) * cols;
        const to = (h * headDim + p * half + j) * cols;
        out.set(w.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/** Maps a parsed llama2.c checkpoint to a Hugging Face LlamaForCausalLM config and state dict (copies). */
export function llama2cToHf(ckpt: Llama2cCheckpoint): HfWeights {
  const c = ckpt.config;
  const w = ckpt.weights;
  const headDim = c.dim / c.nHeads;
  const kvDim = headDim * c.nKvHeads;
  const config: HfLlamaConfig = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.seqLen,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: c.sharedClassifier,
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
  const tensors = new Map<string, HfTensor>();
  const put = (name: string, shape: number[], data: Float32Array): void => {
    tensors.set(name, { shape, data: data.slice() });
  };
  // Layer `i` of a stacked [L, rows, cols] array.
  const layer = (stack: Float32Array, i: number, size: number): Float32Array =>
    stack.subarray(i * size, (i + 1) * size);

  put('model.embed_tokens.weight', [c.vocabSize, c.dim], w.tokenEmbedding);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `model.layers.${i}`;
    put(`${p}.input_layernorm.weight`, [c.dim], layer(w.rmsAtt, i, c.dim));
    tensors.set(`${p}.self_attn.q_proj.weight`, {
      shape: [c.dim, c.dim],
      data: permuteRopeRows(layer(w.wq, i, c.dim * c.dim), c.nHeads, headDim, c.dim),
    });
    tensors.set(`${p}.self_attn.k_proj.weight`, {
      shape: [kvDim, c.dim],
      data: permuteRopeRows(layer(w.wk, i, kvDim * c.dim), c.nKvHeads, headDim, c.dim),
    });
    put(`${p}.self_attn.v_proj.weight`, [kvDim, c.dim], layer(w.wv, i, kvDim * c.dim));
    put(`${p}.self_attn.o_proj.weight`, [c.dim, c.dim], layer(w.wo, i, c.dim * c.dim));
    put(`${p}.post_attention_layernorm.weight`, [c.dim], layer(w.rmsFfn, i, c.dim));
    put(`${p}.mlp.gate_proj.weight`, [c.hiddenDim, c.dim], layer(w.w1, i, c.hiddenDim * c.dim));
    put(`${p}.mlp.up_proj.weight`, [c.hiddenDim, c.dim], layer(w.w3, i, c.hiddenDim * c.dim));
    put(`${p}.mlp.down_proj.weight`, [c.dim, c.hiddenDim], layer(w.w2, i, c.dim * c.hiddenDim));
  }
  put('model.norm.weight', [c.dim], w.rmsFinal);
  if (!c.sharedClassifier && w.wcls !== undefined) put('lm_head.weight', [c.vocabSize, c.dim], w.wcls);
  return { config, tensors };
}
