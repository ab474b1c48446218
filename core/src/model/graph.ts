import type { Tensor, Tensor1D, Tensor2D, Tensor3D, Variable } from '@tensorflow/tfjs-core';
import type { Rng } from '../util/rng.ts';
import type { HookTable } from './hooks.ts';
import type { CallMemo } from './memo.ts';

/**
 * The model graph seam. A model exposes named *sites* (named exactly as the Hugging Face module path so PEFT
 * keys map 1:1). Method plugins attach per-adapter hooks to sites; which hooks run is decided per forward call
 * by the adapter selection carried in `ForwardCall`, never by global state.
 */

/** Which adapters a forward call uses: the same list for every row, or one adapter (or none) per batch row. */
export type AdapterSelection = { readonly active: readonly string[] } | { readonly perRow: readonly (string | null)[] };

export interface SelectionGroup {
  /** Adapters applied, in order, to the rows of this group. */
  readonly adapters: readonly string[];
  /** Batch rows of the group; null means every row. */
  readonly rows: readonly number[] | null;
}

/** Per-call state handed to every hook. Immutable from the hook's point of view. */
export interface ForwardCall {
  readonly groups: readonly SelectionGroup[];
  readonly batchSize: number;
  readonly training: boolean;
  /** Source of dropout masks while training; null at inference. */
  readonly rng: Rng | null;
  /**
   * Per-generation store for what hooks derive once and reuse across decode steps
   * (the KV cache's); absent without a cache.
   */
  readonly memo?: CallMemo | null;
}

/** The base computation of a linear site; QLoRA swaps it for a quantized one. */
export interface LinearBase {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** y = x·Wᵀ + b for x [N, in] → [N, out]. */
  forward(x: Tensor2D): Tensor2D;
  /** The effective weight in [out, in] layout (a new tensor owned by the caller). */
  weightOutIn(): Tensor2D;
  /** Overwrites the weight from an [out, in] tensor (merge/unmerge). The argument stays owned by the caller. */
  assignOutIn(weight: Tensor2D): void;
  readonly bias: Variable | null;
  /** Variables full fine-tuning would train. */
  readonly variables: readonly Variable[];
  /** Bytes held by the base weight (reported by inspect and the server). */
  readonly byteSize: number;
  dispose(): void;
}

/**
 * Builds the base of a linear site from its host weight while a model loads (QLoRA quantizes here, so the float
 * weight never reaches the tensor backend). Returning null keeps the dense base. Heads are never offered.
 */
export type LinearBaseFactory = (
  site: { readonly name: string; readonly layer: number | null },
  weightOutIn: Float32Array,
  shape: readonly [number, number],
  bias: Variable | null,
) => LinearBase | null;

/** A hook on a linear or embedding site: maps (input, base output) of the rows it applies to, to a new output. */
export interface SiteHook {
  apply(input: Tensor, output: Tensor3D, call: ForwardCall): Tensor3D;
  /**
   * Optional batched form: the batcher this hook can join for `call`, or undefined to run alone (e.g. merged, or
   * a variant the batcher does not cover). `applyHooks` uses it when every hook a mixed call selects at the site
   * returns the same batcher, so the cost of a batch does not grow with the number of distinct adapters in it.
   */
  batcher?(call: ForwardCall): RowBatcher | undefined;
}

/** Applies several adapters' hooks at one site, each to its own rows, in one computation (BGMV/SGMV-style). */
export interface RowBatcher {
  /**
   * `rows[r]`: the adapter whose hook applies to batch row r, or null to leave the row as it is. Must give what
   * each adapter's `apply` would give on its rows alone.
   */
  applyRows(rows: readonly (string | null)[], input: Tensor, output: Tensor3D, call: ForwardCall): Tensor3D;
}

export interface LinearSite {
  readonly kind: 'linear';
  readonly name: string;
  /** Transformer layer index, or null outside the layer stack. */
  readonly layer: number | null;
  /** Storage layout of the original checkpoint: torch Linear [out, in] or GPT-2 Conv1D [in, out]. */
  readonly layout: 'out_in' | 'in_out';
  /** True for the output head (excluded from `all-linear`). */
  readonly isHead: boolean;
  base: LinearBase;
  readonly hooks: HookTable<SiteHook>;
}

export interface EmbeddingSite {
  readonly kind: 'embedding';
  readonly name: string;
  readonly layer: null;
  readonly numEmbeddings: number;
  readonly dim: number;
  readonly weight: Variable;
  readonly hooks: HookTable<SiteHook>;
}

/**
 * A sub-layer (attention block or MLP) whose output bottleneck adapters transform. Its hooks get
 * (residual input, sub-layer output): the residual input is the tensor the model adds the (hooked) output to —
 * the residual stream before the pre-norm in Llama/GPT-2, the sub-layer's input before the post-norm in BERT.
 */
export interface BlockSite {
  readonly kind: 'block';
  readonly name: string;
  readonly layer: number;
  readonly role: 'attention' | 'mlp';
  readonly dim: number;
  readonly hooks: HookTable<SiteHook>;
}

/** The affine parameters of a norm: weight [dim] and, for LayerNorm, bias [dim]. */
export interface NormParams {
  readonly weight: Tensor1D;
  readonly bias: Tensor1D | null;
}

/**
 * What a norm hook gives for its adapter's rows: replacement parameters (`replace`) or amounts added to the ones
 * it was given (`delta`). A field left out keeps the parameter it was given.
 */
export interface NormUpdate {
  readonly mode: 'replace' | 'delta';
  readonly weight?: Tensor;
  readonly bias?: Tensor;
}

/** A hook on a norm site: `current` is the base parameters, or the previous adapter's when adapters are chained. */
export interface NormHook {
  params(current: NormParams, call: ForwardCall): NormUpdate;
}

/**
 * A LayerNorm or RMSNorm. The model normalises once per call; the selected adapters' hooks only change the affine
 * parameters of their rows, so norm-tuning methods never touch the base weights outside merge.
 */
export interface NormSite {
  readonly kind: 'norm';
  readonly name: string;
  readonly layer: number | null;
  /** 'rms': x·rsqrt(mean(x²)+eps)·weight; 'layer': (x−mean)·rsqrt(var+eps)·weight + bias. */
  readonly normKind: 'rms' | 'layer';
  readonly dim: number;
  readonly eps: number;
  readonly weight: Variable;
  /** Null for RMSNorm. */
  readonly bias: Variable | null;
  readonly hooks: HookTable<NormHook>;
}

export type Site = LinearSite | EmbeddingSite | BlockSite | NormSite;

/** Virtual-token embeddings prepended to the input (prompt tuning, P-Tuning). */
export interface PromptHook {
  /** How many virtual tokens the hook prepends (lets generation check the context length up front). */
  readonly numVirtualTokens?: number;
  /** [numVirtualTokens, hiddenSize] */
  virtualTokens(call: ForwardCall): Tensor2D;
}

/** Per-layer key/value prefixes entering attention (prefix tuning, P-Tuning v2). */
export interface PrefixHook {
  readonly numVirtualTokens: number;
  /** key and value, each [numVirtualTokens, numKvHeads, headDim], for one layer. */
  prefix(layer: number, call: ForwardCall): { key: Tensor3D; value: Tensor3D };
}

export interface ModelDims {
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly intermediateSize: number;
  readonly maxPositions: number;
}

export type ModelTask = 'causal-lm' | 'seq-cls';

export interface ModelGraph {
  /** Hugging Face `model_type` (llama, gpt2, bert, …). */
  readonly arch: string;
  readonly task: ModelTask;
  readonly dims: ModelDims;
  /** Label names for sequence classification. */
  readonly labels: readonly string[] | null;
  site(name: string): Site | undefined;
  sites(): Iterable<Site>;
  readonly prompts: HookTable<PromptHook>;
  readonly prefixes: HookTable<PrefixHook>;
  /** Looks up token embeddings (no hooks): ids → [n, hiddenSize]. */
  embed(ids: readonly number[]): Tensor2D;
  /** Adapter names a forward call may select (maintained by the model's AdapterManager; undefined: unchecked). */
  adapterNames?: Set<string> | undefined;
  /** Every base parameter under its Hugging Face name (tied weights listed once). */
  parameters(): Map<string, Variable>;
  dispose(): void;
}
