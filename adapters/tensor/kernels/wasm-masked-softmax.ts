import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import { jsRowLoops, type RowLoops, simdRowLoops } from './simd-rows.ts';
import { heapLoops, heapOffset, release, runWasmKernel } from './wasm-ops.ts';

/**
 * Attention's softmax(scale · scores + mask) as one wasm kernel per direction (names shared with
 * packages/models/src/model/masked-softmax.ts, which uses them when the backend has them). Composed, the chain ran
 * Mul / Add / Softmax forward and Mul / Sum / Mul / Sub / Mul backward over [batch, heads, seq, time], ~6 % of a
 * LoRA step's kernel time at seq 256. Here the exps stay in the wasm Softmax kernel (XNNPACK's vectorised exp);
 * scale + mask is one pass before it, and the backward one pass per row (simd-rows.ts: wasm SIMD on the heap, JS
 * where SIMD is missing). The mask is a constant: it gets no gradient.
 *
 * Layout: scores [batch, kvHeads, group · seq, time] (query heads sharing a KV head stacked along the rows, as
 * attention's grouped product yields them), mask [batch, 1, 1, seq, time] broadcast over kvHeads and group.
 * Keys in front of the new ones (prefix, cache) are part of time, so time > seq while decoding.
 */
export const MASKED_SOFTMAX_KERNEL = 'PeftkitMaskedSoftmax';
export const MASKED_SOFTMAX_GRAD_KERNEL = 'PeftkitMaskedSoftmaxGrad';

const describe = (t: TensorInfo) => `${t.dtype} [${t.shape.join(', ')}]`;

interface Layout {
  batch: number;
  /** kvHeads · group: the [seq, time] blocks per batch row that share its mask block. */
  heads: number;
  block: number;
}

function layoutOf(scores: TensorInfo, mask: TensorInfo): Layout {
  if (scores.shape.length !== 4 || scores.dtype !== 'float32') {
    const expected = 'float32 [batch, kvHeads, group * seq, time]';
    throw new Error(`${MASKED_SOFTMAX_KERNEL}: scores must be ${expected}, got ${describe(scores)}`);
  }
  const [batch, kvHeads, rows, time] = scores.shape as [number, number, number, number];
  const [mb, one, other, seq, mt] = mask.shape as number[];
  const shaped = mask.shape.length === 5 && mb === batch && one === 1 && other === 1 && mt === time;
  if (!shaped || mask.dtype !== 'float32' || seq === undefined || seq === 0 || rows % seq !== 0) {
    const expected = `float32 [${batch}, 1, 1, seq, ${time}] with seq dividing ${rows}`;
    throw new Error(`${MASKED_SOFTMAX_KERNEL}: mask must be ${expected}, got ${describe(mask)}`);
  }
  return { batch, heads: kvHeads * (rows / seq), block: seq * time };
}

const loopsByBackend = new WeakMap<BackendWasm, RowLoops>();

function loopsOf(backend: BackendWasm): RowLoops {
  return heapLoops(backend, loopsByBackend, simdRowLoops, jsRowLoops);
}

/** inputs {scores, mask}, attrs {scale} → softmax(scale · scores + mask) over the last axis, shaped like scores. */
export function makeWasmMaskedSoftmax(tf: Tf): KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const backend = b as BackendWasm;
    const scores = inputs.scores as TensorInfo;
    const mask = inputs.mask as TensorInfo;
    const { batch, heads, block } = layoutOf(scores, mask);
    const scale = (attrs as { scale: number }).scale;
    const logits = backend.makeOutput([...scores.shape], 'float32');
    const loops = loopsOf(backend);
    const [x, s, m] = [heapOffset(backend, logits), heapOffset(backend, scores), heapOffset(backend, mask)];
    // each (kv head, group member) [seq, time] block of a batch row adds that row's mask block
    for (let i = 0; i < batch * heads; i++) {
      const offset = 4 * i * block;
      loops.scaleAdd(x + offset, s + offset, m + 4 * Math.floor(i / heads) * block, block, scale);
    }
    try {
      return runWasmKernel(tf, backend, tf.Softmax, { logits }, { dim: 3 });
    } finally {
      release(backend, logits);
    }
  };
}

/** inputs {probs, dy}, attrs {scale} → scale · p ⊙ (dy − Σ_j dy_j p_j) per row over the last axis. */
export function makeWasmMaskedSoftmaxGrad(): KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const backend = b as BackendWasm;
    const probs = inputs.probs as TensorInfo;
    const dy = inputs.dy as TensorInfo;
    const same = dy.shape.length === probs.shape.length && dy.shape.every((d, i) => d === probs.shape[i]);
    if (probs.dtype !== 'float32' || dy.dtype !== 'float32' || !same || probs.shape.length === 0) {
      const got = `${describe(probs)} and ${describe(dy)}`;
      throw new Error(`${MASKED_SOFTMAX_GRAD_KERNEL}: probs and dy must be float32 of one shape, got ${got}`);
    }
    const out = backend.makeOutput([...probs.shape], 'float32');
    const time = probs.shape.at(-1) as number;
    const size = probs.shape.reduce((n, d) => n * d, 1);
    if (size === 0) return out;
    const scale = (attrs as { scale: number }).scale;
    const [o, p, g] = [out, probs, dy].map((t) => heapOffset(backend, t)) as [number, number, number];
    loopsOf(backend).softmaxGrad(o, p, g, size / time, time, scale);
    return out;
  };
}
