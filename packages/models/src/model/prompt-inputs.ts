import type { Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import type { ForwardCall, PrefixHook, PromptHook } from '@peftkit/core';
import type { HookTable } from '@peftkit/core';
import { rowAdapters } from '@peftkit/core';

/** Rows' prompt-method contributions, left-padded to a common length with a 0/1 mask. */
export interface RowPrefix<T> {
  tensor: T;
  /** [batch][length] */
  mask: number[][];
  /** Real (unpadded) length per row. */
  lengths: number[];
}

function padRows(
  tf: Tf,
  rows: (Tensor2D | null)[],
  width: number,
  dtypeWidth: number,
): { tensor: Tensor3D; mask: number[][]; lengths: number[] } {
  const lengths = rows.map((r) => (r === null ? 0 : (r.shape[0] as number)));
  const max = Math.max(...lengths);
  const padded = rows.map((r, i) => {
    const pad = max - (lengths[i] as number);
    if (r === null) return tf.zeros([max, width]) as Tensor2D;
    return pad === 0 ? r : (tf.concat([tf.zeros([pad, dtypeWidth]), r], 0) as Tensor2D);
  });
  const mask = lengths.map((len) => Array.from({ length: max }, (_, t) => (t >= max - len ? 1 : 0)));
  return { tensor: tf.stack(padded) as Tensor3D, mask, lengths };
}

/** Virtual-token embeddings per row ([batch, T, hidden]); null when no selected adapter has a prompt hook. */
export function virtualTokens(
  tf: Tf,
  hooks: HookTable<PromptHook>,
  call: ForwardCall,
  hidden: number,
): RowPrefix<Tensor3D> | null {
  if (hooks.size === 0) return null;
  const perAdapter = new Map<string, Tensor2D>();
  const rows = rowAdapters(call).map((adapters) => {
    const parts: Tensor2D[] = [];
    for (const name of adapters) {
      if (!hooks.has(name)) continue;
      let tokens = perAdapter.get(name);
      if (!tokens) {
        // `call` tags what the hook throws with its plugin, adapter and site.
        tokens = hooks.call(name, 'virtualTokens', (hook) => hook.virtualTokens(call)) as Tensor2D;
        perAdapter.set(name, tokens);
      }
      parts.push(tokens);
    }
    if (parts.length === 0) return null;
    return parts.length === 1 ? (parts[0] as Tensor2D) : (tf.concat(parts, 0) as Tensor2D);
  });
  if (rows.every((r) => r === null)) return null;
  return padRows(tf, rows, hidden, hidden);
}

/** Key/value prefixes of one layer per row ([batch, kvHeads, T, headDim]); null when none applies. */
export function layerPrefixes(
  tf: Tf,
  hooks: HookTable<PrefixHook>,
  call: ForwardCall,
  layer: number,
  kvHeads: number,
  headDim: number,
): { key: Tensor4D; value: Tensor4D; mask: number[][]; lengths: number[] } | null {
  if (hooks.size === 0) return null;
  const perAdapter = new Map<string, { key: Tensor2D; value: Tensor2D }>();
  const keys: (Tensor2D | null)[] = [];
  const values: (Tensor2D | null)[] = [];
  for (const adapters of rowAdapters(call)) {
    const ks: Tensor2D[] = [];
    const vs: Tensor2D[] = [];
    for (const name of adapters) {
      if (!hooks.has(name)) continue;
      let kv = perAdapter.get(name);
      if (!kv) {
        const { key, value } = hooks.call(name, 'prefix', (hook) => hook.prefix(layer, call)) as {
          key: Tensor3D;
          value: Tensor3D;
        };
        const t = key.shape[0];
        kv = {
          key: tf.reshape(key, [t, kvHeads * headDim]) as Tensor2D,
          value: tf.reshape(value, [t, kvHeads * headDim]) as Tensor2D,
        };
        perAdapter.set(name, kv);
      }
      ks.push(kv.key);
      vs.push(kv.value);
    }
    keys.push(ks.length === 0 ? null : ks.length === 1 ? (ks[0] as Tensor2D) : (tf.concat(ks, 0) as Tensor2D));
    values.push(vs.length === 0 ? null : vs.length === 1 ? (vs[0] as Tensor2D) : (tf.concat(vs, 0) as Tensor2D));
  }
  if (keys.every((k) => k === null)) return null;
  const width = kvHeads * headDim;
  const k = padRows(tf, keys, width, width);
  const v = padRows(tf, values, width, width);
  const [batch, time] = k.tensor.shape;
  const toHeads = (x: Tensor3D) =>
    tf.transpose(tf.reshape(x, [batch, time, kvHeads, headDim]), [0, 2, 1, 3]) as Tensor4D;
  return { key: toHeads(k.tensor), value: toHeads(v.tensor), mask: k.mask, lengths: k.lengths };
}
