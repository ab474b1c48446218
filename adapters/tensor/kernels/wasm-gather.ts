import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';

/** Slices shorter than this are copied element by element (a subarray per slice costs more than the copy). */
const SHORT_SLICE = 16;

/**
 * GatherV2 on wasm, computed on the heap in JS: slice copies between the input's and the output's heap views.
 * Two defects of tfjs-backend-wasm 4.22's C++ Gather made it replace the original for every dtype but string:
 * - with batchDims > 0 it reads heap memory outside its inputs: its result depends on what earlier tensors left in
 *   freed memory, up to an out-of-bounds trap (test/wasm-gather.test.ts fills the heap with garbage first);
 * - it costs ~40 ns per element copied: an embedding lookup of 8 tokens × 288 took 100 µs and a training batch of
 *   2048 tokens 22 ms (here: a few µs and ~0.5 ms; bench/RESULTS.md).
 */
export function makeWasmGatherV2(tf: Tf, original: KernelConfig): KernelFunc {
  return (args) => {
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const batchDims = Number(attrs.batchDims ?? 0);
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    if (x.dtype === 'string') return original.kernelFunc(args);
    const backend = args.backend as BackendWasm;
    const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0] as number;
    const ids = backend.readSync(indices.dataId) as Int32Array;
    const dim = x.shape[axis] as number;
    for (const id of ids) {
      if (!(id >= 0 && id < dim)) throw new Error(`GatherV2: the index value ${id} is not in [0, ${dim - 1}]`);
    }
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as never, indices as never, axis, batchDims);
    const out = backend.makeOutput(info.outputShape, x.dtype);
    const { batchSize, outerSize, dimSize, sliceSize } = info;
    if (ids.length === 0 || sliceSize === 0) return out;
    const perBatch = ids.length / batchSize;
    const from = backend.typedArrayFromHeap(x);
    const to = backend.typedArrayFromHeap(out);
    let dst = 0;
    for (let b = 0; b < batchSize; b++)
      for (let o = 0; o < outerSize; o++) {
        const base = (b * outerSize + o) * dimSize;
        for (let i = 0; i < perBatch; i++) {
          const src = (base + (ids[b * perBatch + i] as number)) * sliceSize;
          if (sliceSize < SHORT_SLICE) for (let s = 0; s < sliceSize; s++) to[dst + s] = from[src + s] as number;
          else to.set(from.subarray(src, src + sliceSize), dst);
          dst += sliceSize;
        }
      }
    return out;
  };
}
