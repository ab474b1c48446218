import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { decodeAdapter, disposeSaved, encodeAdapter } from '@peftkit/core';
import type { AdapterManager } from '@peftkit/core';
import type { AdapterSelection, ModelGraph } from '@peftkit/core';
import type { LlamaModel } from '@peftkit/models';
import type { Tf } from '@peftkit/core';
import { Rng } from '@peftkit/core';

/** Helpers shared by the conformance checks: forward passes, snapshots and comparisons as plain arrays. */

export function logits(model: LlamaModel, ids: number[][], selection?: AdapterSelection): Float32Array[] {
  const options = selection ? { selection } : {};
  const out = model.task === 'seq-cls' ? model.classify({ ids }, options) : model.forward({ ids }, options);
  const rows = out.arraySync() as unknown[];
  out.dispose();
  return rows.map((row) => Float32Array.from((row as number[] | number[][]).flat(2) as number[]));
}

export function maxAbsDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let max = 0;
  for (const [r, row] of a.entries()) {
    const other = b[r] as Float32Array;
    for (let i = 0; i < row.length; i++) {
      const d = Math.abs((row[i] as number) - (other[i] as number));
      if (Number.isNaN(d)) return Number.POSITIVE_INFINITY;
      if (d > max) max = d;
    }
  }
  return max;
}

export function snapshotParameters(model: ModelGraph): Map<string, Float32Array> {
  const snap = new Map<string, Float32Array>();
  for (const [name, v] of model.parameters()) snap.set(name, (v.dataSync() as Float32Array).slice());
  return snap;
}

export function maxParameterDiff(model: ModelGraph, snapshot: Map<string, Float32Array>): number {
  let max = 0;
  for (const [name, v] of model.parameters()) {
    const before = snapshot.get(name);
    if (!before) continue;
    const now = v.dataSync() as Float32Array;
    for (let i = 0; i < now.length; i++) {
      const d = Math.abs((now[i] as number) - (before[i] as number));
      if (!(d <= max)) max = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    }
  }
  return max;
}

/** Moves every trainable variable away from its initial value so that deltas are non-trivial. */
export function perturb(tf: Tf, variables: readonly Variable[], seed: number, scale = 0.1): void {
  const rng = new Rng(seed);
  for (const v of variables) {
    tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0, scale), v.shape, 'float32'))));
  }
}

/** save → bytes (adapter_config.json text + safetensors) → load under a new name. */
export function roundTrip(tf: Tf, from: AdapterManager, name: string, to: AdapterManager, newName: string): void {
  const saved = from.save(name);
  const encoded = encodeAdapter(saved);
  disposeSaved(saved);
  const decoded = decodeAdapter(tf, encoded.config, encoded.weights);
  try {
    to.load(newName, decoded);
  } finally {
    disposeSaved(decoded);
  }
}

export function fill(tf: Tf, variable: Variable, value: number): void {
  tf.tidy(() => variable.assign(tf.fill(variable.shape, value) as Tensor));
}
