import type { EmbeddingSite, LinearSite, MethodHandle, SiteHook, Tf } from '@peftkit/core';
import type { LoraConfig } from './config.ts';

/** tfjs types through the core's `Tf` (plugins never import tfjs themselves). */
export type Tensor = ReturnType<Tf['tensor']>;
export type Tensor2D = ReturnType<Tf['tensor2d']>;
export type Tensor3D = ReturnType<SiteHook['apply']>;
export type Variable = ReturnType<Tf['variable']>;

export interface LinearLora {
  readonly kind: 'linear';
  readonly site: LinearSite;
  readonly r: number;
  readonly alpha: number;
  readonly scaling: number;
  /** [r, in] */
  readonly a: Variable;
  /** [out, r] */
  readonly b: Variable;
  /** DoRA magnitude [out], or null without DoRA. */
  readonly magnitude: Variable | null;
  /** DoRA: the weight norm used by the current merge, kept to undo it exactly as PEFT does. */
  mergedNorm: Tensor | null;
}

export interface EmbeddingLora {
  readonly kind: 'embedding';
  readonly site: EmbeddingSite;
  readonly r: number;
  readonly alpha: number;
  readonly scaling: number;
  /** [r, num_embeddings] */
  readonly a: Variable;
  /** [dim, r] */
  readonly b: Variable;
}

export type LoraLayer = LinearLora | EmbeddingLora;

/** A per-adapter trainable bias (bias 'all' / 'lora_only'); the base bias is left alone until merge. */
export interface BiasCopy {
  readonly site: LinearSite;
  readonly bias: Variable;
  /** Base bias saved by merge, restored by unmerge. */
  original: Tensor | null;
}

/** A modules_to_save copy: a trainable clone of a linear site whose output replaces the base one for this adapter. */
export interface SavedModule {
  readonly site: LinearSite;
  /** [out, in] */
  readonly weight: Variable;
  readonly bias: Variable | null;
  original: { weight: Tensor2D; bias: Tensor | null } | null;
}

export interface LoraHandle extends MethodHandle {
  readonly layers: LoraLayer[];
  readonly biases: BiasCopy[];
  readonly modules: SavedModule[];
  /** The config as resolved on the model (targets expanded, fan_in_fan_out corrected): what save writes. */
  readonly config: LoraConfig;
  readonly trainableVariables: Variable[];
  /** Sites carrying this adapter's hook, for dispose. */
  readonly hooked: { readonly hooks: { detach(adapter: string): unknown } }[];
  merged: boolean;
}
