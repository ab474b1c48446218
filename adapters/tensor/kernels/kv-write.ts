import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { heapMemory, heapOffset } from './wasm-ops.ts';

/**
 * The KV cache's in-place append (core's KV_WRITE_KERNEL): inputs {buffer [batch, heads, columns, headDim], update
 * [batch, heads, n, headDim]}, attrs {offset} — the update is copied into columns [offset, offset + n) of the buffer
 * itself, and the output shares the buffer's data (reference-counted, as Identity's does). tfjs kernels never write
 * their inputs; this one may because the cache holds the only tensor on that buffer. Concatenating instead copied
 * the whole cache of every layer per token: ~1.1 ms of a 12 ms stories15M decode step at batch 8.
 */

interface Backend {
  incRef(dataId: object): void;
}

function check(buffer: TensorInfo, update: TensorInfo, offset: number): void {
  const [b, h, columns, d] = buffer.shape as [number, number, number, number];
  const [ub, uh, n, ud] = update.shape as [number, number, number, number];
  const fits = Number.isInteger(offset) && offset >= 0 && offset + n <= columns;
  if (buffer.shape.length !== 4 || update.shape.length !== 4 || ub !== b || uh !== h || ud !== d || !fits) {
    throw new Error(
      `PeftkitKvWrite: update [${update.shape}] at column ${offset} does not fit buffer [${buffer.shape}]`,
    );
  }
  if (buffer.dtype !== 'float32' || update.dtype !== 'float32') throw new Error('PeftkitKvWrite: float32 only');
}

/** Copies the update's rows of n · headDim floats into the buffer's rows of columns · headDim floats. */
function copyRows(to: Float32Array, from: Float32Array, buffer: TensorInfo, update: TensorInfo, offset: number): void {
  const [b, h, columns, d] = buffer.shape as [number, number, number, number];
  const n = update.shape[2] as number;
  for (let r = 0; r < b * h; r++) to.set(from.subarray(r * n * d, (r + 1) * n * d), (r * columns + offset) * d);
}

function shared(backend: Backend, buffer: TensorInfo): TensorInfo {
  backend.incRef(buffer.dataId);
  return { dataId: buffer.dataId, shape: [...buffer.shape], dtype: buffer.dtype };
}

function inputsOf(args: { inputs: object; attrs?: NamedAttrMap }): [TensorInfo, TensorInfo, number] {
  const { buffer, update } = args.inputs as { buffer: TensorInfo; update: TensorInfo };
  const offset = Number(args.attrs?.offset);
  check(buffer, update, offset);
  return [buffer, update, offset];
}

export const wasmKvWrite: KernelFunc = (args) => {
  const [buffer, update, offset] = inputsOf(args);
  const backend = args.backend as BackendWasm;
  // One view of the heap and copyWithin per row: no subarray objects (48 rows per layer at batch 8).
  const heap = new Float32Array(heapMemory(backend).buffer());
  const [to, from] = [heapOffset(backend, buffer) / 4, heapOffset(backend, update) / 4];
  const [b, h, columns, d] = buffer.shape as [number, number, number, number];
  const run = (update.shape[2] as number) * d;
  for (let r = 0; r < b * h; r++)
    heap.copyWithin(to + (r * columns + offset) * d, from + r * run, from + (r + 1) * run);
  return shared(backend as unknown as Backend, buffer);
};

export const cpuKvWrite: KernelFunc = (args) => {
  const [buffer, update, offset] = inputsOf(args);
  const backend = args.backend as unknown as Backend & { data: { get(id: object): { values: Float32Array } } };
  copyRows(backend.data.get(buffer.dataId).values, backend.data.get(update.dataId).values, buffer, update, offset);
  return shared(backend, buffer);
};
