import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import type { BlasBinding } from '../../native/types.ts';
import type { MatMulPlan } from './matmul-plan.ts';
import { activate } from './wasm-fused-matmul.ts';
import { planFloatProduct } from './wasm-matmul.ts';
import { smallBatchedProduct } from './small-products.ts';
import { release, runWasmKernel } from './wasm-ops.ts';

/**
 * BatchMatMul and _FusedMatMul on wasm through the machine's BLAS (cblas_sgemm), called on the wasm heap itself:
 * operands and output are Float32Array views of the backend's WebAssembly.Memory, which the FFI hands to C as
 * pointers — no copies in or out. Transposes are BLAS flags and broadcast batches are pointer offsets, so no
 * operand is ever materialised. Products below `minMacs` multiply-adds per sgemm call keep the wasm path
 * (`fallback`), where FFI overhead and BLAS's packing would cost more than they save.
 * Gradients call the same kernels, so backward passes use BLAS as well.
 */

export interface BlasKernelSettings {
  /** Multiply-adds per sgemm call from which BLAS is used. */
  minMacs: number;
  /** False runs the wasm path for every product (tests and benches compare both). */
  enabled: boolean;
}

/**
 * BLAS won at every size measured, down to 4x4x4 (2-core AMD EPYC, OpenBLAS 0.3.21: bench/blas-shapes.ts,
 * bench/RESULTS.md "Native BLAS"): the wasm path's per-call overhead exceeds the FFI's ~1 µs. So every non-empty
 * product goes to BLAS by default; the setting stays for tests and for BLASes with costlier calls.
 */
export const DEFAULT_MIN_MACS = 1;

const settings: BlasKernelSettings = { minMacs: DEFAULT_MIN_MACS, enabled: true };

/** Changes the BLAS kernels' settings for this process; returns the previous ones. */
export function setBlasKernelSettings(next: Partial<BlasKernelSettings>): BlasKernelSettings {
  const previous = { ...settings };
  Object.assign(settings, next);
  return previous;
}

/** Runs `fn` with every product on the wasm path (the results peftkit gives without a BLAS). */
export function withoutBlas<T>(fn: () => T): T {
  const previous = setBlasKernelSettings({ enabled: false });
  try {
    return fn();
  } finally {
    setBlasKernelSettings(previous);
  }
}

/** One tall sgemm covers every batch when B is shared and A's batches are contiguous rows. */
function oneCall(p: MatMulPlan, tA: boolean): boolean {
  return p.batchB === 1 && !tA;
}

function worthIt(p: MatMulPlan, tA: boolean): boolean {
  return settings.enabled && (oneCall(p, tA) ? p.batch * p.m : p.m) * p.k * p.n >= settings.minMacs;
}

/** The whole wasm heap as float32; a fresh view per call because growing the heap replaces its ArrayBuffer. */
function heapF32(backend: BackendWasm): Float32Array {
  return new Float32Array((backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer);
}

/**
 * C = op(A)·op(B) + beta·C for one m x k by k x n product at heap offsets (in floats). A one-row or one-column
 * product goes to sgemv, which streams the matrix once where sgemm would pack all of it first.
 */
function product(
  blas: BlasBinding,
  heap: Float32Array,
  tA: boolean,
  tB: boolean,
  m: number,
  n: number,
  k: number,
  ai: number,
  bi: number,
  beta: number,
  ci: number,
) {
  const lda = tA ? m : k;
  const ldb = tB ? k : n;
  if (blas.sgemv !== undefined && (m === 1 || n === 1)) {
    // The vector side is contiguous whatever its transpose flag: [1, k] and [k, 1] store the same k floats.
    if (m === 1)
      blas.sgemv(!tB, tB ? n : k, tB ? k : n, 1, heap.subarray(bi), ldb, heap.subarray(ai), beta, heap.subarray(ci));
    else blas.sgemv(tA, tA ? k : m, tA ? m : k, 1, heap.subarray(ai), lda, heap.subarray(bi), beta, heap.subarray(ci));
    return;
  }
  blas.sgemm(tA, tB, m, n, k, 1, heap.subarray(ai), lda, heap.subarray(bi), ldb, beta, heap.subarray(ci), n);
}

/** out[i] = op(A[aIndex[i]])·op(B[bIndex[i]]) + beta·out[i] for every output matrix, in place on the heap. */
function gemmInto(
  backend: BackendWasm,
  blas: BlasBinding,
  a: TensorInfo,
  b: TensorInfo,
  tA: boolean,
  tB: boolean,
  p: MatMulPlan,
  out: TensorInfo,
  beta: number,
) {
  const heap = heapF32(backend);
  const aOff = backend.getMemoryOffset(a.dataId) / 4;
  const bOff = backend.getMemoryOffset(b.dataId) / 4;
  const cOff = backend.getMemoryOffset(out.dataId) / 4;
  const { m, k, n } = p;
  if (oneCall(p, tA)) {
    product(blas, heap, false, tB, p.batch * m, n, k, aOff, bOff, beta, cOff);
    return;
  }
  for (let i = 0; i < p.batch; i++) {
    product(
      blas,
      heap,
      tA,
      tB,
      m,
      n,
      k,
      aOff + (p.aIndex[i] as number) * m * k,
      bOff + (p.bIndex[i] as number) * k * n,
      beta,
      cOff + i * m * n,
    );
  }
}

export function makeBlasBatchMatMul(blas: BlasBinding, fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const tA = attrs.transposeA === true;
    const tB = attrs.transposeB === true;
    const p = planFloatProduct(a, b, tA, tB);
    if (p === null || !worthIt(p, tA)) return fallback(args);
    const backend = args.backend as BackendWasm;
    const small = smallBatchedProduct(backend, a, b, tA, tB, p);
    if (small !== null) return small;
    const out = backend.makeOutput(p.outShape, 'float32');
    gemmInto(backend, blas, a, b, tA, tB, p, out, 0);
    return out;
  };
}

interface FusedInputs {
  a: TensorInfo;
  b: TensorInfo;
  bias?: TensorInfo | null;
  preluActivationWeights?: TensorInfo | null;
}

/** A float32 bias of n values that broadcasts over rows only ([n], [1, n], …) without raising the output rank. */
function isRowBias(bias: TensorInfo, p: MatMulPlan): boolean {
  const dims = bias.shape;
  return (
    bias.dtype === 'float32' &&
    dims.length <= p.outShape.length &&
    dims[dims.length - 1] === p.n &&
    dims.slice(0, -1).every((d) => d === 1)
  );
}

/** Writes the bias into every row of `out`, so sgemm with beta = 1 adds the product to it. */
function fillRows(backend: BackendWasm, bias: TensorInfo, out: TensorInfo, rows: number, n: number): void {
  const heap = heapF32(backend);
  const from = backend.getMemoryOffset(bias.dataId) / 4;
  const to = backend.getMemoryOffset(out.dataId) / 4;
  heap.copyWithin(to, from, from + n);
  // Doubling: each copy duplicates every row written so far.
  for (let done = 1; done < rows; done *= 2) heap.copyWithin(to + done * n, to, to + Math.min(done, rows - done) * n);
}

/** _FusedMatMul: the product through BLAS (a row bias folded in as C's initial value), then the activation kernel. */
export function makeBlasFusedMatMul(tf: Tf, blas: BlasBinding, fallback: KernelFunc): KernelFunc {
  return (args) => {
    const inputs = args.inputs as unknown as FusedInputs;
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const tA = attrs.transposeA === true;
    const tB = attrs.transposeB === true;
    const p = planFloatProduct(inputs.a, inputs.b, tA, tB);
    if (p === null || !worthIt(p, tA)) return fallback(args);
    const backend = args.backend as BackendWasm;
    const bias = inputs.bias ?? null;
    const rowBias = bias !== null && isRowBias(bias, p);
    let y = backend.makeOutput(p.outShape, 'float32');
    try {
      if (rowBias) fillRows(backend, bias, y, p.batch * p.m, p.n);
      gemmInto(backend, blas, inputs.a, inputs.b, tA, tB, p, y, rowBias ? 1 : 0);
      if (bias !== null && !rowBias) {
        const sum = runWasmKernel(tf, backend, tf.Add, { a: y, b: bias });
        release(backend, y);
        y = sum;
      }
      const out = activate(tf, backend, y, attrs, inputs.preluActivationWeights);
      if (out.dataId !== y.dataId) release(backend, y);
      return out;
    } catch (error) {
      release(backend, y);
      throw error;
    }
  };
}
