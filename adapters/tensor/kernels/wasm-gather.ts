import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';

/**
 * GatherV2 with batchDims > 0 on wasm. tfjs-backend-wasm 4.22's C++ Gather reads heap memory outside its inputs for
 * batched gathers: its result depends on what earlier tensors left in freed memory, up to an out-of-bounds trap
 * (test/wasm-gather.test.ts fills the heap with garbage first and shows it). peftkit itself gathers with
 * batchDims = 0, which stays on the original kernel; batched gathers are computed here on the host, exactly.
 */
export function makeWasmGatherV2(tf: Tf, original: KernelConfig): KernelFunc {
  return (args) => {
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const batchDims = Number(attrs.batchDims ?? 0);
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    if (batchDims === 0 || x.dtype === 'string') return original.kernelFunc(args);
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
    const perBatch = ids.length / batchSize;
    const from = backend.typedArrayFromHeap(x);
    const to = backend.typedArrayFromHeap(out);
    for (let b = 0; b < batchSize; b++)
      for (let o = 0; o < outerSize; o++)
        for (let i = 0; i < perBatch; i++) {
          const src = ((b * outerSize + o) * dimSize + (ids[b * perBatch + i] as number)) * sliceSize;
          to.set(from.subarray(src, src + sliceSize), ((b * outerSize + o) * perBatch + i) * sliceSize);
        }
    return out;
  };
}
