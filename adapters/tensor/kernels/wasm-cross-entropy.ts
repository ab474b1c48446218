import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import { runWasmKernel } from './wasm-ops.ts';

/**
 * Softmax cross-entropy over [rows, vocab] logits as two wasm kernels (kernel names shared with
 * core/src/train/cross-entropy.ts, which uses them when the backend has them). The profile of the LoRA step at
 * seq 256 × batch 4 had ~0.65 s of 2.6 s in the composed loss: logSumExp's Exp kernel alone (scalar expf, ~12 ns
 * per element) took 0.38 s, Max / Sub / Sum over the logits and the backward's chunked softmax, one-hot, cast,
 * sub, mul and concat the rest. Here the only pass over the logits that needs exp is the wasm Softmax kernel
 * (XNNPACK's vectorised exp, ~1 ns per element); everything else is one JS pass per direction on heap views.
 */
export const CROSS_ENTROPY_KERNEL = 'PeftkitSoftmaxCrossEntropy';
export const CROSS_ENTROPY_GRAD_KERNEL = 'PeftkitSoftmaxCrossEntropyGrad';

interface Rows {
  rows: number;
  vocab: number;
  targets: Int32Array;
  weights: Float32Array;
}

function rowsOf(backend: BackendWasm, x: TensorInfo, targets: TensorInfo, weights: TensorInfo): Rows {
  if (x.shape.length !== 2 || x.dtype !== 'float32') throw new Error(`${CROSS_ENTROPY_KERNEL}: logits must be float32 [rows, vocab]`);
  const [rows, vocab] = x.shape as [number, number];
  if (targets.dtype !== 'int32' || targets.shape[0] !== rows || weights.shape[0] !== rows) {
    throw new Error(`${CROSS_ENTROPY_KERNEL}: targets (int32) and weights need one entry per row`);
  }
  return { rows, vocab, targets: backend.typedArrayFromHeap(targets) as Int32Array, weights: backend.typedArrayFromHeap(weights) as Float32Array };
}

/**
 * inputs {logits, targets, weights} → [Σ_r w_r · (logsumexp(x_r) − x_r[t_r]) as a scalar, softmax(logits)].
 * logsumexp(x_r) = x_r[a] − log p_r[a] at the row's arg-max a, where p_r[a] ≥ 1/vocab never underflows.
 */
export function makeWasmCrossEntropy(tf: Tf): KernelFunc {
  return ({ inputs, backend: b }) => {
    const backend = b as BackendWasm;
    const x = inputs.logits as TensorInfo;
    const probs = runWasmKernel(tf, backend, tf.Softmax, { logits: x }, { dim: 1 });
    const sum = backend.makeOutput([], 'float32');
    // views after the last allocation: growing the heap detaches older views
    const { rows, vocab, targets, weights } = rowsOf(backend, x, inputs.targets as TensorInfo, inputs.weights as TensorInfo);
    const xs = backend.typedArrayFromHeap(x) as Float32Array;
    const ps = backend.typedArrayFromHeap(probs) as Float32Array;
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const w = weights[r] as number;
      if (w === 0) continue;
      const base = r * vocab;
      let arg = base;
      let best = xs[base] as number;
      for (let j = base + 1; j < base + vocab; j++) {
        const v = xs[j] as number;
        if (v > best) {
          best = v;
          arg = j;
        }
      }
      const lse = best - Math.log(ps[arg] as number);
      total += w * (lse - (xs[base + (targets[r] as number)] as number));
    }
    (backend.typedArrayFromHeap(sum) as Float32Array)[0] = total;
    return [sum, probs];
  };
}

/** inputs {probs, targets, weights, dy} → dy · w_r · (p_r − onehot(t_r)), rows with weight 0 all zeros. */
export function makeWasmCrossEntropyGrad(): KernelFunc {
  return ({ inputs, backend: b }) => {
    const backend = b as BackendWasm;
    const p = inputs.probs as TensorInfo;
    const out = backend.makeOutput([...p.shape], 'float32');
    const { rows, vocab, targets, weights } = rowsOf(backend, p, inputs.targets as TensorInfo, inputs.weights as TensorInfo);
    const dy = (backend.typedArrayFromHeap(inputs.dy as TensorInfo) as Float32Array)[0] as number;
    const ps = backend.typedArrayFromHeap(p) as Float32Array;
    const g = backend.typedArrayFromHeap(out) as Float32Array;
    for (let r = 0; r < rows; r++) {
      const c = dy * (weights[r] as number);
      const base = r * vocab;
      if (c === 0) {
        g.fill(0, base, base + vocab);
        continue;
      }
      for (let j = base; j < base + vocab; j++) g[j] = (ps[j] as number) * c;
      const t = base + (targets[r] as number);
      g[t] = (g[t] as number) - c;
    }
    return out;
  };
}
