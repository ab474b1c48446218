import type { Tensor2D, Tensor3D, Variable } from '@tensorflow/tfjs-core';
import type { Tf } from '../runtime/types.ts';
import type { ForwardCall, LinearBase, LinearSite, SiteHook } from './graph.ts';
import { HookTable } from './hooks.ts';
import { applyHooks } from './selection.ts';

/** A float32 dense weight stored in its checkpoint layout ([out, in] for torch Linear, [in, out] for Conv1D). */
export class DenseLinearBase implements LinearBase {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Variable;
  readonly bias: Variable | null;
  readonly #tf: Tf;
  readonly #layout: 'out_in' | 'in_out';

  constructor(tf: Tf, weight: Variable, layout: 'out_in' | 'in_out', bias: Variable | null) {
    this.#tf = tf;
    this.weight = weight;
    this.bias = bias;
    this.#layout = layout;
    const [a, b] = weight.shape as [number, number];
    this.outFeatures = layout === 'out_in' ? a : b;
    this.inFeatures = layout === 'out_in' ? b : a;
  }

  forward(x: Tensor2D): Tensor2D {
    const tf = this.#tf;
    const w = this.weight as Tensor2D;
    // The natural x·Wᵀ: a backend chooses how to run a transposed weight (wasm without a BLAS rewrites few-row
    // products as (W·xᵀ)ᵀ in its kernel; a BLAS takes the transpose as a flag, where that rewrite was 2× slower).
    const y = tf.matMul(x, w, false, this.#layout === 'out_in') as Tensor2D;
    return this.bias === null ? y : (tf.add(y, this.bias) as Tensor2D);
  }

  weightOutIn(): Tensor2D {
    const w = this.weight as Tensor2D;
    return this.#layout === 'out_in' ? this.#tf.clone(w) : this.#tf.transpose(w);
  }

  assignOutIn(weight: Tensor2D): void {
    const tf = this.#tf;
    if (this.#layout === 'out_in') this.weight.assign(weight);
    else tf.tidy(() => this.weight.assign(tf.transpose(weight)));
  }

  get variables(): Variable[] {
    return this.bias === null ? [this.weight] : [this.weight, this.bias];
  }

  get byteSize(): number {
    return 4 * (this.weight.size + (this.bias?.size ?? 0));
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }
}

export function createLinearSite(
  name: string,
  base: LinearBase,
  options: { layer: number | null; layout: 'out_in' | 'in_out'; isHead?: boolean },
): LinearSite {
  return {
    kind: 'linear',
    name,
    layer: options.layer,
    layout: options.layout,
    isHead: options.isHead ?? false,
    base,
    hooks: new HookTable<SiteHook>(name),
  };
}

/** Runs a linear site on x [B, S, in]: base output for the whole batch, then the selected adapters' hooks. */
export function runLinear(tf: Tf, site: LinearSite, x: Tensor3D, call: ForwardCall): Tensor3D {
  const [batch, seq, features] = x.shape;
  const y = site.base.forward(tf.reshape(x, [batch * seq, features]) as Tensor2D);
  const y3 = tf.reshape(y, [batch, seq, site.base.outFeatures]) as Tensor3D;
  return applyHooks(tf, site.hooks, x, y3, call);
}
