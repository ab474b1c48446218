import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';

/**
 * Slice and SplitV on wasm without reading the input out of the heap. tfjs-backend-wasm 4.22's Slice starts with
 * `backend.readSync(x)`, a copy of the whole input into JS, and then copies the slice: the cross-entropy backward
 * slices 256-row chunks of the [positions, vocab] logits, so each chunk copied all 262 MB of them (seq 256 × batch
 * 8) — a quarter of the LoRA step's CPU time. Here the input is read through a heap view; only the slice is copied.
 */

type Floats = Float32Array | Int32Array | Uint8Array;

/** Copies x[begin : begin + size] (row-major, any rank) into `out`; runs of full trailing axes are one copy. */
export function copySlice(
  x: Floats,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
  out: Floats,
): void {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  let stride = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d] as number;
  }
  // k: the innermost axis not taken whole; everything from k inwards is one contiguous run per outer index
  let k = rank - 1;
  while (k >= 0 && size[k] === shape[k]) k--;
  if (k < 0) {
    out.set(x.subarray(0, out.length));
    return;
  }
  const run = (size[k] as number) * (strides[k] as number);
  const base = (begin[k] as number) * (strides[k] as number);
  const outer = size.slice(0, k);
  const index = new Array<number>(k).fill(0);
  const count = outer.reduce((a, b) => a * b, 1);
  let o = 0;
  for (let n = 0; n < count; n++) {
    let src = base;
    for (let d = 0; d < k; d++) src += ((begin[d] as number) + (index[d] as number)) * (strides[d] as number);
    if (run < 32) for (let j = 0; j < run; j++) out[o + j] = x[src + j] as number;
    else out.set(x.subarray(src, src + run), o);
    o += run;
    for (let d = k - 1; d >= 0; d--) {
      index[d] = (index[d] as number) + 1;
      if ((index[d] as number) < (outer[d] as number)) break;
      index[d] = 0;
    }
  }
}

function sliceInfo(
  tf: Tf,
  backend: BackendWasm,
  x: TensorInfo,
  beginIn: number | number[],
  sizeIn: number | number[],
): TensorInfo {
  const [begin, size] = tf.slice_util.parseSliceParams(x, beginIn, sizeIn) as [number[], number[]];
  const out = backend.makeOutput(size, x.dtype);
  if (size.some((d) => d === 0)) return out;
  // views after makeOutput: growing the heap detaches older views
  copySlice(backend.typedArrayFromHeap(x) as Floats, x.shape, begin, size, backend.typedArrayFromHeap(out) as Floats);
  return out;
}

export function makeWasmSlice(tf: Tf, original: KernelConfig): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return original.kernelFunc(args);
    const attrs = args.attrs as NamedAttrMap;
    return sliceInfo(tf, args.backend as BackendWasm, x, attrs.begin as number[], attrs.size as number[]);
  };
}

export function makeWasmSplitV(tf: Tf, original: KernelConfig): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return original.kernelFunc(args);
    const attrs = args.attrs as NamedAttrMap;
    const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0] as number;
    const sizes = tf.backend_util.prepareSplitSize(x, attrs.numOrSizeSplits as number | number[], axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[axis] = s;
      const out = sliceInfo(tf, args.backend as BackendWasm, x, [...begin], size);
      begin[axis] = (begin[axis] as number) + s;
      return out;
    });
  };
}
