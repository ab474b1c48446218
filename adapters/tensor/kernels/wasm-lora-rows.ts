import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { jsLoraRowsLoops, type LoraRowsLoops, simdLoraRowsLoops } from './simd-lora-rows.ts';
import { heapLoops, heapOffset } from './wasm-ops.ts';

/**
 * Mixed-adapter LoRA's update in one kernel (name shared with plugins/lora/src/batch.ts, which uses it for inference
 * where the backend has it): inputs {x [rows, seq, in], y [rows, seq, out], a [rows, rank, in], bt [rows, rank, out]
 * (each row's B transposed), scale [rows]} → y + scale · (x · Aᵀ) · B per row. Composed it was two batched products,
 * a Mul and an Add per LoRA site (BGMV in S-LoRA's terms, as tfjs ops): four kernel launches, two of them looping over
 * the rows' matrices. Inference only; training keeps the composed ops (autodiff).
 */
export const LORA_ROWS_KERNEL = 'PeftkitLoraRows';

const loopsByBackend = new WeakMap<BackendWasm, LoraRowsLoops>();

function fail(why: string): never {
  throw new Error(`${LORA_ROWS_KERNEL}: ${why}`);
}

export const wasmLoraRows: KernelFunc = ({ inputs, backend: b }) => {
  const backend = b as BackendWasm;
  const { x, y, a, bt, scale } = inputs as Record<'x' | 'y' | 'a' | 'bt' | 'scale', TensorInfo | undefined>;
  if (!x || !y || !a || !bt || !scale) return fail('inputs x, y, a, bt and scale are required');
  for (const t of [x, y, a, bt, scale]) if (t.dtype !== 'float32') fail('every input must be float32');
  const [rows, seq, inF] = x.shape as [number, number, number];
  const [outF, rank] = [y.shape[2] as number, a.shape[1] as number];
  const same = (t: TensorInfo, shape: number[]) =>
    t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  const fits =
    x.shape.length === 3 &&
    same(y, [rows, seq, outF]) &&
    same(a, [rows, rank, inF]) &&
    same(bt, [rows, rank, outF]) &&
    scale.shape.reduce((n, d) => n * d, 1) === rows;
  if (!fits) fail(`shapes x [${x.shape}], y [${y.shape}], a [${a.shape}], bt [${bt.shape}], scale [${scale.shape}]`);
  const out = backend.makeOutput([...y.shape], 'float32');
  if (rows * seq * outF > 0) {
    const loops = heapLoops(backend, loopsByBackend, simdLoraRowsLoops, jsLoraRowsLoops);
    const at = (t: TensorInfo) => heapOffset(backend, t);
    loops.rows(at(out), at(x), at(y), at(a), at(bt), at(scale), rows, seq, inF, outF, rank);
  }
  return out;
};
