import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * UnsortedSegmentSum is the gradient of gather (embedding lookups). tfjs-backend-wasm 4.22 has no
 * kernel for it and the cpu kernel builds one mask tensor per segment (O(numSegments * size): minutes
 * and gigabytes at vocab 8192). This is one pass over the rows instead. Ids outside
 * [0, numSegments) are skipped, as in TensorFlow.
 */

type Values = Float32Array | Int32Array;

interface SegmentSumShape {
  outShape: number[];
  /** Elements per segment row. */
  inner: number;
  /** Number of segment ids. */
  rows: number;
}

function product(dims: readonly number[]): number {
  let size = 1;
  for (const d of dims) size *= d;
  return size;
}

function analyse(
  x: TensorInfo,
  segmentIds: TensorInfo,
  attrs: NamedAttrMap | undefined,
): SegmentSumShape & { numSegments: number } {
  const numSegments = attrs?.numSegments;
  if (typeof numSegments !== 'number' || !Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`UnsortedSegmentSum: numSegments must be a non-negative integer, got ${String(numSegments)}`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`UnsortedSegmentSum: unsupported dtype ${x.dtype}`);
  if (segmentIds.dtype !== 'int32')
    throw new Error(`UnsortedSegmentSum: segmentIds must be int32, got ${segmentIds.dtype}`);
  const idRank = segmentIds.shape.length;
  const prefix = x.shape.slice(0, idRank);
  if (prefix.length !== idRank || prefix.some((d, i) => d !== segmentIds.shape[i])) {
    throw new Error(
      `UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`,
    );
  }
  const innerShape = x.shape.slice(idRank);
  return {
    numSegments,
    outShape: [numSegments, ...innerShape],
    inner: product(innerShape),
    rows: product(segmentIds.shape),
  };
}

/** Adds row r of `x` into row ids[r] of `out` (which must start zeroed). */
export function accumulateSegments(out: Values, x: Values, ids: Int32Array, inner: number, numSegments: number): void {
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r] as number;
    if (id < 0 || id >= numSegments) continue;
    const dst = id * inner;
    const src = r * inner;
    for (let j = 0; j < inner; j++) out[dst + j] = (out[dst + j] as number) + (x[src + j] as number);
  }
}

export const cpuUnsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const cpu = backend as MathBackendCPU;
  const s = analyse(x, segmentIds, attrs);
  const out = x.dtype === 'int32' ? new Int32Array(product(s.outShape)) : new Float32Array(product(s.outShape));
  const xValues = cpu.readSync(x.dataId) as Values;
  const ids = cpu.readSync(segmentIds.dataId) as Int32Array;
  accumulateSegments(out, xValues, ids.subarray(0, s.rows), s.inner, s.numSegments);
  return cpu.makeTensorInfo(s.outShape, x.dtype, out);
};

export const wasmUnsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const wasm = backend as BackendWasm;
  const s = analyse(x, segmentIds, attrs);
  const out = wasm.makeOutput(s.outShape, x.dtype);
  // Views are taken after makeOutput: growing the heap detaches earlier ones. malloc does not zero.
  const outValues = wasm.typedArrayFromHeap(out) as Values;
  outValues.fill(0);
  const xValues = wasm.typedArrayFromHeap(x) as Values;
  const ids = wasm.typedArrayFromHeap(segmentIds) as Int32Array;
  accumulateSegments(outValues, xValues, ids, s.inner, s.numSegments);
  return out;
};
