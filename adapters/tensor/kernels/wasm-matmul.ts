import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import { type MatMulPlan, planMatMul } from './matmul-plan.ts';
import { copyInto, copyRange, release, transposeLast, view } from './wasm-ops.ts';
import { smallBatchedProduct } from './small-products.ts';
import { cacheSafeWeights } from './xnn-cache-guard.ts';

/**
 * tfjs-backend-wasm 4.22 sends a product to XNNPACK only when it is a single non-transposed 2-D
 * product; anything transposed or batched runs a naive C loop (0.4-2.3 vs ~29 GFLOP/s measured by
 * bench/matmul.ts on a 2-core machine). These
 * wrappers rewrite every float32 product into fast 2-D calls of the original kernel:
 *  - transposed operands are materialised first with the wasm Transpose kernel (O(size) copy),
 *  - when B has a single batch, all batches of A are one [batch*m, k] x [k, n] product,
 *  - otherwise each output matrix is one 2-D product of copied slices.
 * XNNPACK caches packed weights keyed by the B tensor id, so every B slice is a fresh tensor (a
 * reused scratch buffer would hit a stale cache entry); disposing it drops the cache entry. B
 * tensors that come from the caller go through cacheSafeWeights (see xnn-cache-guard.ts).
 */

interface Operands {
  /** A as [batchA, m, k] and B as [batchB, k, n], contiguous. */
  a: TensorInfo;
  b: TensorInfo;
  /** Tensors created here that the caller must release. */
  owned: TensorInfo[];
  /** True when `b` is a fresh transposed copy rather than the caller's tensor. */
  bIsCopy: boolean;
}

function normalise(
  tf: Tf,
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  tA: boolean,
  tB: boolean,
  p: MatMulPlan,
): Operands {
  const owned: TensorInfo[] = [];
  let a3 = view(a, [p.batchA, p.m, p.k]);
  let b3 = view(b, [p.batchB, p.k, p.n]);
  if (tA) {
    a3 = transposeLast(tf, backend, a, p.batchA, p.k, p.m);
    owned.push(a3);
  }
  if (tB) {
    b3 = transposeLast(tf, backend, b, p.batchB, p.n, p.k);
    owned.push(b3);
  }
  return { a: a3, b: b3, owned, bIsCopy: tB };
}

type Product2d = (a: TensorInfo, b: TensorInfo) => TensorInfo;

/**
 * Runs `fn` with `b` (a 2-D [k, n] view) as XNNPACK weights; a caller-owned `b` is checked against
 * the operator cache first. `fresh`: `b` was created by peftkit for this call.
 */
export function withWeights<T>(backend: BackendWasm, b: TensorInfo, fresh: boolean, fn: (b: TensorInfo) => T): T {
  if (fresh) return fn(b);
  const guarded = cacheSafeWeights(backend, b);
  try {
    return fn(guarded.b);
  } finally {
    if (guarded.copied) release(backend, guarded.b);
  }
}

/** The batched product of normalised operands as a new [batch, m, n] tensor (shape set to outShape). */
function batchedProduct(backend: BackendWasm, ops: Operands, p: MatMulPlan, product2d: Product2d): TensorInfo {
  const { m, k, n } = p;
  if (p.batchB === 1) {
    // B broadcasts over every batch of A: one tall product, no copies.
    const out = withWeights(backend, view(ops.b, [k, n]), ops.bIsCopy, (b) =>
      product2d(view(ops.a, [p.batchA * m, k]), b),
    );
    return view(out, p.outShape);
  }
  const out = backend.makeOutput([p.batch, m, n], 'float32');
  try {
    for (let i = 0; i < p.batch; i++) {
      const ai =
        p.batchA === 1
          ? view(ops.a, [m, k])
          : copyRange(backend, ops.a, (p.aIndex[i] as number) * m * k, m * k, [m, k]);
      const bi = copyRange(backend, ops.b, (p.bIndex[i] as number) * k * n, k * n, [k, n]);
      try {
        const prod = product2d(ai, bi);
        copyInto(backend, prod, out, i * m * n);
        release(backend, prod);
      } finally {
        release(backend, bi);
        if (p.batchA !== 1) release(backend, ai);
      }
    }
  } catch (error) {
    release(backend, out);
    throw error;
  }
  return view(out, p.outShape);
}

/** True when tfjs already runs this product on XNNPACK: one non-transposed 2-D product. */
export function isFastAlready(p: MatMulPlan, tA: boolean, tB: boolean): boolean {
  return !tA && !tB && p.batchA === 1 && p.batchB === 1;
}

/** A plan for float32, non-empty, valid products; null means "leave it to the original kernel". */
export function planFloatProduct(a: TensorInfo, b: TensorInfo, tA: boolean, tB: boolean): MatMulPlan | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const p = planMatMul(a.shape, b.shape, tA, tB);
  return p === null || p.m * p.k * p.n * p.batch === 0 ? null : p;
}

/** Row count up to which x·Wᵀ (one 2-D product, B transposed) runs as (W·xᵀ)ᵀ. */
const FEW_ROWS = 64;

/**
 * x·Wᵀ with few rows (decoding, short prompts) as (W·xᵀ)ᵀ: the transposed copies are then of the small x and the
 * small result, not of the whole weight, which XNNPACK would also re-pack on every call (the stories15M head
 * [32000, 288] at 8 rows: 72 ms as x·Wᵀ, 9.4 ms this way). Callers write the natural x·Wᵀ; with a BLAS, which takes
 * the transpose as a flag, this rewrite is never reached (it was 2× slower there, done by the model).
 */
function fewRowsTimesTransposed(
  tf: Tf,
  backend: BackendWasm,
  product2d: Product2d,
  a: TensorInfo,
  b: TensorInfo,
  p: MatMulPlan,
): TensorInfo {
  const xT = transposeLast(tf, backend, a, 1, p.m, p.k);
  let wx: TensorInfo | undefined;
  try {
    wx = product2d(view(b, [p.n, p.k]), view(xT, [p.k, p.m]));
    return view(transposeLast(tf, backend, wx, 1, p.n, p.m), p.outShape);
  } finally {
    release(backend, xT);
    if (wx !== undefined) release(backend, wx);
  }
}

/** Computes A·B for any float32 operands via 2-D calls of `original` (the tfjs BatchMatMul kernel). */
export function wasmProduct(
  tf: Tf,
  backend: BackendWasm,
  original: KernelFunc,
  a: TensorInfo,
  b: TensorInfo,
  tA: boolean,
  tB: boolean,
  p: MatMulPlan,
): TensorInfo {
  const product2d: Product2d = (x, y) =>
    original({ inputs: { a: x, b: y }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
  if (tB && !tA && p.batch === 1 && p.m <= FEW_ROWS) return fewRowsTimesTransposed(tf, backend, product2d, a, b, p);
  const ops = normalise(tf, backend, a, b, tA, tB, p);
  try {
    return batchedProduct(backend, ops, p, product2d);
  } finally {
    for (const t of ops.owned) release(backend, t);
  }
}

export function makeWasmBatchMatMul(tf: Tf, original: KernelConfig): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const tA = attrs.transposeA === true;
    const tB = attrs.transposeB === true;
    const p = planFloatProduct(a, b, tA, tB);
    if (p === null) return original.kernelFunc(args);
    const backend = args.backend as BackendWasm;
    if (isFastAlready(p, tA, tB)) {
      const out = withWeights(backend, view(b, [p.k, p.n]), false, (w) =>
        original.kernelFunc({ ...args, inputs: { a, b: view(w, b.shape) } }),
      ) as TensorInfo;
      return view(out, p.outShape);
    }
    return (
      smallBatchedProduct(backend, a, b, tA, tB, p) ?? wasmProduct(tf, backend, original.kernelFunc, a, b, tA, tB, p)
    );
  };
}
