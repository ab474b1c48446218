import { backendHasKernels, type ForwardCall, type LinearSite, type RowBatcher, type Tf } from '@peftkit/core';
import type { LinearLora, Tensor, Tensor3D } from './types.ts';

/**
 * A backend's one-kernel update y + s · (x · Aᵀ) · B per row (adapters/tensor/kernels/wasm-lora-rows.ts), for
 * inference: it takes each row's B transposed, [rank, out], which the stacks then hold instead of B.
 */
const FUSED = 'PeftkitLoraRows';

/**
 * Multiply-adds (positions · rank · (in + out)) up to which one adapter on every row takes the fused kernel at
 * inference (`applyAll`). Measured on wasm + OpenBLAS, rank 8: the composed ops cost ~15–30 µs however small, the
 * kernel ~0.2–0.35 ns per multiply-add (288 wide: 8 positions 8.5 vs 17.6 µs, 32 positions 27.7 vs 21.6; 2048
 * wide, 8 positions: 51.6 vs 33.4) — bench/lora-fused-crossover.ts, bench/RESULTS.md.
 */
export const SINGLE_FUSED_MACS = 98304;

/**
 * Mixed-adapter LoRA as one product per site (BGMV-style): each row's A and B, padded to the largest rank among the
 * rows, are stacked into A_rows [rows, R, in] and B_rows [rows, out, R], and every row's delta is
 * (x·A_rowᵀ·s_row)·B_rowᵀ — two batched products, however many adapters the batch mixes. Rows without an adapter
 * at the site get zeros (and scaling 0). Plain LoRA only: DoRA, bias copies and modules_to_save keep the
 * per-adapter path (their hooks offer no batcher).
 *
 * The stacks are built from the adapters' own variables (one concat each), not gathered from a stored stack of
 * all adapters: on wasm that gather cost ~2x the whole forward (bench/RESULTS.md). Gradients flow through the
 * concat, so training uses the same path. In a generation (a KV cache), the stacks live in the cache's memo and
 * are reused by every decode step of the batch, keyed by the rows' layers and their A/B data; they are freed
 * with the cache, so nothing outlives a request batch.
 */
function stackRows(tf: Tf, site: LinearSite, layers: readonly (LinearLora | null)[], fused: boolean): Tensor[] {
  const rank = Math.max(1, ...layers.map((l) => l?.r ?? 0));
  const { inFeatures, outFeatures } = site.base;
  const padded = new Map<LinearLora | null, readonly [Tensor, Tensor]>();
  const pick = (layer: LinearLora | null): readonly [Tensor, Tensor] => {
    let pair = padded.get(layer);
    if (pair === undefined) {
      const pad = layer === null ? 0 : rank - layer.r;
      if (layer === null) pair = [tf.zeros([rank, inFeatures]), tf.zeros([outFeatures, rank])];
      else if (pad === 0) pair = [layer.a, layer.b];
      // Zero rows of A and columns of B add nothing to the product.
      else
        pair = [
          tf.pad(layer.a, [
            [0, pad],
            [0, 0],
          ]),
          tf.pad(layer.b, [
            [0, 0],
            [0, pad],
          ]),
        ];
      padded.set(layer, pair);
    }
    return pair;
  };
  const pairs = layers.map(pick);
  const a = tf.stack(pairs.map((p) => p[0]));
  const b = tf.stack(pairs.map((p) => p[1]));
  if (fused) return [a, tf.transpose(b, [0, 2, 1]), tf.tensor1d(Float32Array.from(layers, (l) => l?.scaling ?? 0))];
  return [
    a,
    b,
    tf.tensor3d(
      Float32Array.from(layers, (l) => l?.scaling ?? 0),
      [layers.length, 1, 1],
    ),
  ];
}

/** y + (x·A_rowᵀ·s_row)·B_rowᵀ from stacked [A_rows, B_rows or, fused, Bᵀ_rows, scales]. */
function applyStacked(tf: Tf, stacks: readonly Tensor[], x: Tensor3D, y: Tensor3D, fused: boolean): Tensor3D {
  const [a, b, scale] = stacks;
  if (fused) return tf.engine().runKernel(FUSED, { x, y, a, bt: b, scale } as never) as Tensor3D;
  const down = tf.mul(tf.matMul(x, a as Tensor3D, false, true), scale as Tensor);
  return tf.add(y, tf.matMul(down as Tensor3D, b as Tensor3D, false, true)) as Tensor3D;
}

/**
 * What the stacks of `layers` were built from: a reassigned variable (training, load) has new data. Built once per
 * site per decode step, so one flat array and no per-row arrays (with 32 adapters: 10 sites × 32 rows a step).
 */
function memoKey(layers: readonly (LinearLora | null)[]): unknown[] {
  const key = new Array<unknown>(3 * layers.length);
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i] ?? null;
    key[3 * i] = l;
    key[3 * i + 1] = l?.a.dataId ?? null;
    key[3 * i + 2] = l?.b.dataId ?? null;
  }
  return key;
}

/** The batcher of one linear site: the plain-LoRA adapters attached there, by adapter name. */
export class LoraSiteBatcher implements RowBatcher {
  readonly #tf: Tf;
  readonly #site: LinearSite;
  readonly #members = new Map<string, LinearLora>();

  constructor(tf: Tf, site: LinearSite) {
    this.#tf = tf;
    this.#site = site;
  }

  get size(): number {
    return this.#members.size;
  }

  /** A name already taken stays with its layer (attaching the hook then fails, and the failed inject leaves). */
  join(adapter: string, layer: LinearLora): void {
    if (!this.#members.has(adapter)) this.#members.set(adapter, layer);
  }

  leave(adapter: string, layer: LinearLora): void {
    if (this.#members.get(adapter) === layer) this.#members.delete(adapter);
  }

  applyRows(rows: readonly (string | null)[], input: Tensor, output: Tensor3D, call: ForwardCall): Tensor3D {
    const layers = rows.map((name) => (name === null ? null : (this.#members.get(name) ?? null)));
    const x = input as Tensor3D;
    return this.#apply(layers, x, output, call, this.#fusable(x, call));
  }

  /**
   * One adapter on every row at inference (not training), through the fused kernel as one "row" of b · seq
   * positions: one kernel launch instead of two products, a Mul and an Add (plus reshapes) per site; undefined
   * where the kernel does not apply (training, no kernel, other inputs, past SINGLE_FUSED_MACS).
   */
  applyAll(layer: LinearLora, input: Tensor, output: Tensor3D, call: ForwardCall): Tensor3D | undefined {
    const x = input as Tensor3D;
    if (!this.#fusable(x, call)) return undefined;
    const [batch, seq, inFeatures] = x.shape;
    const positions = batch * seq;
    if (positions * layer.r * (inFeatures + output.shape[2]) > SINGLE_FUSED_MACS) return undefined;
    const tf = this.#tf;
    const flatX = tf.reshape(x, [1, positions, inFeatures]) as Tensor3D;
    const flatY = tf.reshape(output, [1, positions, output.shape[2]]) as Tensor3D;
    return tf.reshape(this.#apply([layer], flatX, flatY, call, true), output.shape) as Tensor3D;
  }

  /**
   * Autodiff needs the composed ops (training, or gradients taken of an inference forward: the kernel has none);
   * so does anything but a float32 [rows, seq, in] input.
   */
  #fusable(x: Tensor, call: ForwardCall): boolean {
    const tf = this.#tf;
    const plain = !call.training && !tf.engine().isTapeOn();
    return plain && x.rank === 3 && x.dtype === 'float32' && backendHasKernels(tf, FUSED);
  }

  #apply(layers: (LinearLora | null)[], x: Tensor3D, output: Tensor3D, call: ForwardCall, fused: boolean): Tensor3D {
    const tf = this.#tf;
    const memo = call.training ? null : (call.memo ?? null);
    if (memo === null) return applyStacked(tf, stackRows(tf, this.#site, layers, fused), x, output, fused);
    // Generation: prefill stacks the rows once, every decode step of the batch reuses them.
    const key = [fused, ...memoKey(layers)]; // the fused kernel's stacks hold Bᵀ, the composed ops' B
    let stacks = memo.get(this, key);
    if (stacks === undefined) {
      stacks = stackRows(tf, this.#site, layers, fused);
      memo.set(this, key, stacks);
    }
    return applyStacked(tf, stacks, x, output, fused);
  }
}

const batchers = new WeakMap<LinearSite, LoraSiteBatcher>();

/** Adds a plain-LoRA adapter to its site's batcher (created on first use). */
export function joinBatcher(tf: Tf, layer: LinearLora, adapter: string): LoraSiteBatcher {
  let batcher = batchers.get(layer.site);
  if (batcher === undefined) {
    batcher = new LoraSiteBatcher(tf, layer.site);
    batchers.set(layer.site, batcher);
  }
  batcher.join(adapter, layer);
  return batcher;
}

/** Removes an adapter from its site's batcher. */
export function leaveBatcher(layer: LinearLora, adapter: string): void {
  const batcher = batchers.get(layer.site);
  batcher?.leave(adapter, layer);
  if (batcher !== undefined && batcher.size === 0) batchers.delete(layer.site);
}
