import type { RefWeights } from './reference.ts';
import { type RawTensor, safetensorsBytes } from '../../../test/support/safetensors-bytes.ts';

export { type RawTensor, safetensorsBytes };

/**
 * AdapterHub files built byte by byte, independently of peftkit's writer, and a small BERT config for the format tests.
 */

export const D = 16;

/** The header of safetensors bytes, read by hand. */
export function safetensorsHeader(bytes: Uint8Array): Record<string, { dtype: string; shape: number[] }> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[] }
  >;
  delete header.__metadata__;
  return header;
}

export const values = (n: number, seed: number, scale: number) =>
  Float32Array.from({ length: n }, (_, i) => scale * Math.sin(0.37 * i + seed));

/** AdapterHub's BnConfig.to_dict() for the given overrides (adapters 1.x field set). */
export function bnConfig(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    adapter_residual_before_ln: false,
    cross_adapter: false,
    dropout: 0.0,
    factorized_phm_W: true,
    factorized_phm_rule: false,
    hypercomplex_nonlinearity: 'glorot-uniform',
    init_weights: 'bert',
    inv_adapter: null,
    inv_adapter_reduction_factor: null,
    is_parallel: false,
    learn_phm: true,
    leave_out: [],
    ln_after: false,
    ln_before: false,
    original_ln_after: true,
    phm_bias: true,
    phm_c_init: 'normal',
    phm_dim: 4,
    phm_init_range: 0.0001,
    phm_layer: false,
    phm_rank: 1,
    residual_before_ln: true,
    scaling: 1.0,
    shared_W_phm: false,
    shared_phm_rule: true,
    stochastic_depth: 0.0,
    use_gating: false,
    ...overrides,
  };
}

/** One adapter per (module path, site) with bottleneck `b`; returns file tensors and reference weights by site. */
export function adapterFiles(
  modules: readonly { path: string; site: string }[],
  b: number,
): { tensors: RawTensor[]; weights: Map<string, RefWeights> } {
  const tensors: RawTensor[] = [];
  const weights = new Map<string, RefWeights>();
  modules.forEach(({ path, site }, k) => {
    const w: RefWeights = {
      down: values(b * D, k, 0.4),
      downBias: values(b, k + 3, 0.1),
      up: values(D * b, k + 7, 0.3),
      upBias: values(D, k + 11, 0.05),
    };
    weights.set(site, w);
    tensors.push(
      { name: `${path}.adapter_down.0.weight`, shape: [b, D], data: w.down },
      { name: `${path}.adapter_down.0.bias`, shape: [b], data: w.downBias },
      { name: `${path}.adapter_up.weight`, shape: [D, b], data: w.up },
      { name: `${path}.adapter_up.bias`, shape: [D], data: w.upBias },
    );
  });
  return { tensors, weights };
}

export const BERT = {
  model_type: 'bert',
  hidden_size: D,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 32,
  vocab_size: 64,
  max_position_embeddings: 16,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu',
  id2label: { 0: 'ham', 1: 'spam' },
};
