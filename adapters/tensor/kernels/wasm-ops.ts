import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import { type WasmMemory, wasmApi } from './wasm-asm.ts';

/**
 * Small helpers that run wasm-backend kernels on TensorInfos inside another kernel. Everything they
 * allocate is returned to the caller, who disposes it with `release`.
 */

/** Same buffer, another shape. Not owned: never release a view. */
export function view(info: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** Byte offset of a tensor's data in the heap (stable until the tensor is disposed, unlike views). */
export function heapOffset(backend: BackendWasm, t: TensorInfo): number {
  const offset = backend.dataIdMap.get(t.dataId)?.memoryOffset;
  if (offset === undefined) throw new Error('tensor data is not on the wasm heap');
  return offset;
}

/** The heap's WebAssembly.Memory (for modules that work on it in place) and its current buffer. */
export function heapMemory(backend: BackendWasm): { memory: unknown; buffer: () => ArrayBufferLike } {
  // the emscripten module keeps its Memory under asm and a view of the current heap as HEAPU8
  const emscripten = backend.wasm as unknown as { asm?: { memory?: unknown }; HEAPU8: Uint8Array };
  return { memory: emscripten.asm?.memory, buffer: () => emscripten.HEAPU8.buffer };
}

/**
 * Loops bound to the backend's heap, made once per backend: the SIMD module's when this runtime can instantiate it on
 * the heap's Memory, else the JS fallback over the heap's current buffer.
 */
export function heapLoops<T>(
  backend: BackendWasm,
  cache: WeakMap<BackendWasm, T>,
  simd: (memory: WasmMemory) => T | null,
  js: (heap: () => ArrayBufferLike) => T,
): T {
  let loops = cache.get(backend);
  if (loops === undefined) {
    const heap = heapMemory(backend);
    loops =
      (wasmApi !== undefined && heap.memory instanceof wasmApi.Memory ? simd(heap.memory) : null) ?? js(heap.buffer);
    cache.set(backend, loops);
  }
  return loops;
}

export function release(backend: BackendWasm, info: TensorInfo): void {
  backend.disposeData(info.dataId);
}

/** Runs the currently registered wasm kernel `name` (looked up per call so later replacements apply). */
export function runWasmKernel(
  tf: Tf,
  backend: BackendWasm,
  name: string,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (kernel === undefined) throw new Error(`wasm kernel ${name} is not registered`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
}

/** [batch, rows, cols] -> [batch, cols, rows] as a new contiguous tensor (wasm Transpose kernel). */
export function transposeLast(
  tf: Tf,
  backend: BackendWasm,
  x: TensorInfo,
  batch: number,
  rows: number,
  cols: number,
): TensorInfo {
  const input = batch === 1 ? view(x, [rows, cols]) : view(x, [batch, rows, cols]);
  const perm = batch === 1 ? [1, 0] : [0, 2, 1];
  const out = runWasmKernel(tf, backend, tf.Transpose, { x: input }, { perm });
  return view(out, [batch, cols, rows]);
}

/**
 * Copies `size` float32 elements starting at element `offset` of `src` into a new tensor of `shape`.
 * Heap views are taken after the allocation because growing the wasm heap detaches older views.
 */
export function copyRange(
  backend: BackendWasm,
  src: TensorInfo,
  offset: number,
  size: number,
  shape: number[],
): TensorInfo {
  const out = backend.makeOutput(shape, src.dtype);
  const from = backend.typedArrayFromHeap(src) as Float32Array;
  (backend.typedArrayFromHeap(out) as Float32Array).set(from.subarray(offset, offset + size));
  return out;
}

/** Copies all of `src` into `dst` starting at element `offset`. */
export function copyInto(backend: BackendWasm, src: TensorInfo, dst: TensorInfo, offset: number): void {
  (backend.typedArrayFromHeap(dst) as Float32Array).set(backend.typedArrayFromHeap(src) as Float32Array, offset);
}
