import { KV_WRITE_KERNEL, RMS_NORM_KERNEL, type Tf } from '@peftkit/core';
import { blasLibrary } from '../../native/blas.ts';
import { makeBlasBatchMatMul, makeBlasFusedMatMul } from './blas-matmul.ts';
import { cpuKvWrite, wasmKvWrite } from './kv-write.ts';
import { installKernel } from './registry.ts';
import { cpuUnsortedSegmentSum, wasmUnsortedSegmentSum } from './segment-sum.ts';
import {
  CROSS_ENTROPY_GRAD_KERNEL,
  CROSS_ENTROPY_KERNEL,
  makeWasmCrossEntropy,
  makeWasmCrossEntropyGrad,
} from './wasm-cross-entropy.ts';
import { makeWasmFusedMatMul } from './wasm-fused-matmul.ts';
import { makeWasmGatherV2 } from './wasm-gather.ts';
import { GREEDY_KERNEL, wasmGreedyPick } from './wasm-greedy.ts';
import { LORA_ROWS_KERNEL, wasmLoraRows } from './wasm-lora-rows.ts';
import { makeWasmIdentity } from './wasm-identity.ts';
import {
  MASKED_SOFTMAX_GRAD_KERNEL,
  MASKED_SOFTMAX_KERNEL,
  makeWasmMaskedSoftmax,
  makeWasmMaskedSoftmaxGrad,
} from './wasm-masked-softmax.ts';
import { wasmRmsNorm } from './wasm-rmsnorm.ts';
import { makeWasmRope, ROPE_KERNEL } from './wasm-rope.ts';
import { makeWasmSlice, makeWasmSplitV } from './wasm-slice.ts';
import { makeWasmSwiGlu, makeWasmSwiGluGrad, SWIGLU_GRAD_KERNEL, SWIGLU_KERNEL } from './wasm-swiglu.ts';
import { makeWasmTranspose } from './wasm-transpose.ts';
import { makeWasmBatchMatMul } from './wasm-matmul.ts';

/**
 * Installs peftkit's wasm kernels. Idempotent; call after the wasm backend package is imported. With a BLAS on the
 * machine (adapters/native/blas.ts) products above a size threshold go to it; without one, the wasm kernels run.
 */
export function installWasmKernels(tf: Tf): void {
  const blas = blasLibrary()?.binding;
  installKernel(tf, tf.BatchMatMul, 'wasm', (original) => {
    if (original === undefined) throw new Error('tfjs-backend-wasm did not register BatchMatMul');
    const wasm = makeWasmBatchMatMul(tf, original);
    return blas === undefined ? wasm : makeBlasBatchMatMul(blas, wasm);
  });
  installKernel(tf, tf._FusedMatMul, 'wasm', (original) => {
    if (original === undefined) throw new Error('tfjs-backend-wasm did not register _FusedMatMul');
    const wasm = makeWasmFusedMatMul(tf, original);
    return blas === undefined ? wasm : makeBlasFusedMatMul(tf, blas, wasm);
  });
  installKernel(tf, tf.UnsortedSegmentSum, 'wasm', () => wasmUnsortedSegmentSum);
  installKernel(tf, tf.Identity, 'wasm', (original) => {
    if (original === undefined) throw new Error('tfjs-backend-wasm did not register Identity');
    return makeWasmIdentity(original);
  });
  installKernel(tf, tf.GatherV2, 'wasm', (original) => {
    if (original === undefined) throw new Error('tfjs-backend-wasm did not register GatherV2');
    return makeWasmGatherV2(tf, original);
  });
  installKernel(tf, tf.Transpose, 'wasm', (original) => {
    if (original === undefined) throw new Error('tfjs-backend-wasm did not register Transpose');
    return makeWasmTranspose(original);
  });
  installKernel(tf, tf.Slice, 'wasm', (original) => {
    if (original === undefined) throw new Error('tfjs-backend-wasm did not register Slice');
    return makeWasmSlice(tf, original);
  });
  installKernel(tf, tf.SplitV, 'wasm', (original) => {
    if (original === undefined) throw new Error('tfjs-backend-wasm did not register SplitV');
    return makeWasmSplitV(tf, original);
  });
  installKernel(tf, CROSS_ENTROPY_KERNEL, 'wasm', () => makeWasmCrossEntropy(tf));
  installKernel(tf, CROSS_ENTROPY_GRAD_KERNEL, 'wasm', () => makeWasmCrossEntropyGrad());
  installKernel(tf, MASKED_SOFTMAX_KERNEL, 'wasm', () => makeWasmMaskedSoftmax(tf));
  installKernel(tf, MASKED_SOFTMAX_GRAD_KERNEL, 'wasm', () => makeWasmMaskedSoftmaxGrad());
  installKernel(tf, ROPE_KERNEL, 'wasm', () => makeWasmRope());
  installKernel(tf, SWIGLU_KERNEL, 'wasm', () => makeWasmSwiGlu(tf));
  installKernel(tf, SWIGLU_GRAD_KERNEL, 'wasm', () => makeWasmSwiGluGrad(tf));
  installKernel(tf, KV_WRITE_KERNEL, 'wasm', () => wasmKvWrite);
  installKernel(tf, RMS_NORM_KERNEL, 'wasm', () => wasmRmsNorm);
  installKernel(tf, GREEDY_KERNEL, 'wasm', () => wasmGreedyPick);
  installKernel(tf, LORA_ROWS_KERNEL, 'wasm', () => wasmLoraRows);
}

/** Installs peftkit's cpu kernels. Idempotent; call after the cpu backend package is imported. */
export function installCpuKernels(tf: Tf): void {
  installKernel(tf, tf.UnsortedSegmentSum, 'cpu', () => cpuUnsortedSegmentSum);
  installKernel(tf, KV_WRITE_KERNEL, 'cpu', () => cpuKvWrite);
}
