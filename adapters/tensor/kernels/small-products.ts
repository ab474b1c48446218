import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { MatMulPlan } from './matmul-plan.ts';
import { type SmallProductLoops, simdSmallProductLoops } from './simd-small-products.ts';
import { heapLoops, heapOffset } from './wasm-ops.ts';

/**
 * Multiply-adds per matrix up to which a batched product (a different B per matrix) runs as one SIMD pass over the
 * batch (simd-small-products.ts) rather than one BLAS call or one XNNPACK product per matrix. Measured with
 * bench/blas-shapes.ts on the shapes that reach it (mixed-adapter LoRA rows, decoding attention): see
 * bench/RESULTS.md, "Small batched products".
 */
export const SMALL_PRODUCT_MACS = 16384;

let limit = SMALL_PRODUCT_MACS;

/** Changes the per-matrix limit for this process (0 turns the SIMD pass off); returns the previous one. */
export function setSmallProductMacs(macs: number): number {
  const previous = limit;
  limit = macs;
  return previous;
}

const loopsByBackend = new WeakMap<BackendWasm, SmallProductLoops | null>();

/**
 * The SIMD loops on this backend's heap, or null where the runtime cannot run them there: no JS fallback, the caller
 * then keeps its per-matrix path.
 */
function simdLoops(backend: BackendWasm): SmallProductLoops | null {
  return heapLoops<SmallProductLoops | null>(backend, loopsByBackend, simdSmallProductLoops, () => null);
}

/**
 * True when `p` is a batch of small products, each with its own B, that the SIMD pass takes. With B transposed each
 * output is a dot product that ends in a horizontal sum: below 32 terms, more than ~128 of them per matrix cost
 * more than one BLAS call (LoRA's · B_rowᵀ at rank 8: 64 outputs 1.5× faster here, 288 outputs 0.6×).
 */
export function isSmallBatched(p: MatMulPlan, tA: boolean, tB: boolean): boolean {
  const shortDots = tB && p.k < 32 && p.m * p.n > 128;
  return !tA && !shortDots && p.batch > 1 && p.batchB > 1 && p.m * p.n * p.k <= limit;
}

/**
 * op(A)·op(B) for float32 operands as a new tensor of p.outShape, all matrices in one SIMD pass; null when the
 * product is not a small batched one (`isSmallBatched`) or SIMD is unavailable, so the caller takes its usual path.
 */
export function smallBatchedProduct(
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  tA: boolean,
  tB: boolean,
  p: MatMulPlan,
): TensorInfo | null {
  if (!isSmallBatched(p, tA, tB)) return null;
  const loops = simdLoops(backend);
  if (loops === null) return null;
  const out = backend.makeOutput(p.outShape, 'float32');
  const [ai, bi, oi] = [heapOffset(backend, a), heapOffset(backend, b), heapOffset(backend, out)];
  const { m, n, k } = p;
  for (let i = 0; i < p.batch; i++) {
    const x = ai + (p.aIndex[i] as number) * m * k * 4;
    const w = bi + (p.bIndex[i] as number) * k * n * 4;
    if (tB) loops.dotRows(oi + i * m * n * 4, x, w, m, n, k);
    else loops.sumRows(oi + i * m * n * 4, x, w, m, n, k);
  }
  return out;
}
