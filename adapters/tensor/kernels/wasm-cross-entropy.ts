import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import { jsCrossEntropyLoops, simdCrossEntropyLoops, type CrossEntropyLoops } from './simd-cross-entropy.ts';
import { heapLoops, heapOffset, release, runWasmKernel } from './wasm-ops.ts';

/**
 * Softmax cross-entropy over [rows, vocab] logits as two wasm kernels (kernel names shared with
 * core/src/train/cross-entropy.ts, which uses them when the backend has them). The profile of the LoRA step at
 * seq 256 × batch 4 had ~0.65 s of 2.6 s in the composed loss: logSumExp's Exp kernel alone (scalar expf, ~12 ns
 * per element) took 0.38 s, Max / Sub / Sum over the logits and the backward's chunked softmax, one-hot, cast,
 * sub, mul and concat the rest. Here the only pass over the logits that needs exp is the wasm Softmax kernel
 * (XNNPACK's vectorised exp); the loss is read from its output per row, and the backward pass over [rows, vocab]
 * is a SIMD row loop (simd-cross-entropy.ts). Only per-row work is left to JS.
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
  if (x.shape.length !== 2 || x.dtype !== 'float32')
    throw new Error(`${CROSS_ENTROPY_KERNEL}: logits must be float32 [rows, vocab]`);
  const [rows, vocab] = x.shape as [number, number];
  if (targets.dtype !== 'int32' || targets.shape[0] !== rows || weights.shape[0] !== rows) {
    throw new Error(`${CROSS_ENTROPY_KERNEL}: targets (int32) and weights need one entry per row`);
  }
  return {
    rows,
    vocab,
    targets: backend.typedArrayFromHeap(targets) as Int32Array,
    weights: backend.typedArrayFromHeap(weights) as Float32Array,
  };
}

const loopsByBackend = new WeakMap<BackendWasm, CrossEntropyLoops>();

function loopsOf(backend: BackendWasm): CrossEntropyLoops {
  return heapLoops(backend, loopsByBackend, simdCrossEntropyLoops, jsCrossEntropyLoops);
}

/** Below this the target's float32 probability loses precision (subnormal) or is 0: its log is not usable. */
const SMALLEST_USABLE_P = 1e-30;

/** logsumexp(x) − x[t] of one row from its maximum: max x − log max p − x[t] (p ≥ 1/vocab at the arg-max). */
function lossFromMaximum(xs: Float32Array, ps: Float32Array, base: number, vocab: number, target: number): number {
  let maxX = Number.NEGATIVE_INFINITY;
  let maxP = 0;
  for (let j = base; j < base + vocab; j++) {
    maxX = Math.max(maxX, xs[j] as number);
    maxP = Math.max(maxP, ps[j] as number);
  }
  return maxX - Math.log(maxP) - (xs[base + target] as number);
}

/**
 * inputs {logits, targets, weights} → [Σ_r w_r · (logsumexp(x_r) − x_r[t_r]) as a scalar, softmax(logits)].
 * Per row that is −log p_r[t_r], read from the softmax; only a row whose target probability underflows scans its
 * logits for the maximum (lossFromMaximum), so the forward pass over the logits is the Softmax kernel alone.
 */
export function makeWasmCrossEntropy(tf: Tf): KernelFunc {
  return ({ inputs, backend: b }) => {
    const backend = b as BackendWasm;
    const x = inputs.logits as TensorInfo;
    const probs = runWasmKernel(tf, backend, tf.Softmax, { logits: x }, { dim: 1 });
    const sum = backend.makeOutput([], 'float32');
    // views after the last allocation: growing the heap detaches older views
    const { rows, vocab, targets, weights } = rowsOf(
      backend,
      x,
      inputs.targets as TensorInfo,
      inputs.weights as TensorInfo,
    );
    const ps = backend.typedArrayFromHeap(probs) as Float32Array;
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const w = weights[r] as number;
      if (w === 0) continue;
      const base = r * vocab;
      const t = targets[r] as number;
      const p = ps[base + t] as number;
      const loss =
        p >= SMALLEST_USABLE_P
          ? -Math.log(p)
          : lossFromMaximum(backend.typedArrayFromHeap(x) as Float32Array, ps, base, vocab, t);
      total += w * loss;
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
    const coefficients = backend.makeOutput([p.shape[0] as number], 'float32');
    try {
      const { rows, vocab, targets, weights } = rowsOf(
        backend,
        p,
        inputs.targets as TensorInfo,
        inputs.weights as TensorInfo,
      );
      const dy = (backend.typedArrayFromHeap(inputs.dy as TensorInfo) as Float32Array)[0] as number;
      const c = backend.typedArrayFromHeap(coefficients) as Float32Array;
      for (let r = 0; r < rows; r++) c[r] = dy * (weights[r] as number);
      loopsOf(backend).scaleRows(
        heapOffset(backend, out),
        heapOffset(backend, p),
        rows,
        vocab,
        heapOffset(backend, coefficients),
      );
      const g = backend.typedArrayFromHeap(out) as Float32Array;
      for (let r = 0; r < rows; r++) {
        const base = r * vocab;
        const cr = c[r] as number;
        // an ignored row is exact zeros even where its probabilities are not finite
        if (cr === 0) g.fill(0, base, base + vocab);
        else g[base + (targets[r] as number)] = (g[base + (targets[r] as number)] as number) - cr;
      }
      return out;
    } finally {
      release(backend, coefficients);
    }
  };
}
