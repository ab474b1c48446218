import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Identity (tf.clone) that shares the input's buffer instead of copying it, as the cpu backend and wasm's own
 * Reshape already do (reference-counted; tfjs never writes into an input). It matters for training: tfjs clones
 * every tensor it saves for the backward pass, so with the copying kernel each saved activation — the
 * [positions, vocab] logits included — existed twice in the wasm heap, and the copies cost time.
 */
export function makeWasmIdentity(original: KernelConfig): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return original.kernelFunc(args);
    (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}
