import type { LinearSite, MethodHandle, SiteHook, Tf } from '@peftkit/core';
import type { PrefixTuningConfig } from './config.ts';
import type { PrefixGeometry } from './geometry.ts';

/** tfjs types through the core's `Tf` (plugins never import tfjs themselves). */
export type Tensor = ReturnType<Tf['tensor']>;
export type Tensor2D = ReturnType<Tf['tensor2d']>;
export type Tensor3D = ReturnType<SiteHook['apply']>;
export type Variable = ReturnType<Tf['variable']>;

/** PEFT's PrefixEncoder `transform`: Linear(token_dim → h) · tanh · Linear(h → width), weights in torch [out, in]. */
export interface PrefixProjection {
  readonly w1: Variable;
  readonly b1: Variable;
  readonly w2: Variable;
  readonly b2: Variable;
}

/** The trainable prefix: a flat [T, width] table, or an embedding [T, token_dim] reparameterized by an MLP. */
export interface PrefixEncoder {
  readonly embedding: Variable;
  readonly projection: PrefixProjection | null;
}

/** A modules_to_save copy of a linear head (seq-cls `classifier` / `score`), replacing its output for this adapter. */
export interface HeadCopy {
  readonly site: LinearSite;
  /** [out, in] */
  readonly weight: Variable;
  readonly bias: Variable | null;
}

/** Config fields a method adds on top of PEFT's (kept in training checkpoints, never in PEFT files). */
export type ExtraFields = Readonly<Record<string, unknown>>;

export interface PrefixHandle extends MethodHandle {
  readonly kind: 'prefix';
  /** Plugin that created the handle (its name and version go into training checkpoints). */
  readonly method: { readonly name: string; readonly version: string };
  /**
   * The config as resolved on the model (geometry filled in, modules_to_save with the seq-cls heads): what save writes.
   */
  readonly config: PrefixTuningConfig;
  readonly extra: ExtraFields;
  readonly geometry: PrefixGeometry;
  readonly encoder: PrefixEncoder;
  readonly heads: HeadCopy[];
  /** Dropout on the prefix while training (P-Tuning v2); 0 for plain prefix tuning. */
  readonly dropout: number;
  readonly trainableVariables: Variable[];
  /** Hook tables carrying this adapter, for dispose. */
  readonly hooked: { detach(adapter: string): unknown }[];
}

export function isPrefixHandle(handle: unknown): handle is PrefixHandle {
  return typeof handle === 'object' && handle !== null && (handle as { kind?: unknown }).kind === 'prefix';
}
