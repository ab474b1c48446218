import { DYNAMIC_MAP } from './codebooks.ts';

/**
 * 8-bit blockwise quantization with a 256-entry code table (bitsandbytes `quantize_blockwise`, used here for the
 * double quantization of the 4-bit block scales). Rounding follows bnb's CUDA `dQuantize<0>` literally: a 7-step
 * binary search from pivot 127, then the nearer of the bracketing codes by a float32 midpoint (ties go to the pivot).
 */

const f = Math.fround;

export function quantizeCode8(code: Float32Array, x: number): number {
  let pivot = 127;
  let upperPivot = 255;
  let lowerPivot = 0;
  let lower = -1;
  let upper = 1;
  let val = code[pivot] as number;
  for (let i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lowerPivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upperPivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = code[pivot] as number;
  }
  if (upperPivot === 255) upper = code[255] as number;
  if (lowerPivot === 0) lower = code[0] as number;
  if (x > val) return x > f(f(upper + val) * 0.5) ? upperPivot : pivot;
  return x < f(f(lower + val) * 0.5) ? lowerPivot : pivot;
}

export interface Blockwise8 {
  /** One byte per value. */
  readonly codes: Uint8Array;
  /** float32 absmax per block. */
  readonly absmax: Float32Array;
  readonly blockSize: number;
  /** The 256-entry table codes index. */
  readonly code: Float32Array;
}

/** Blockwise absmax scaling (x · float32(1/absmax), as bnb multiplies by the reciprocal), then the code table. */
export function quantizeBlockwise8(
  values: Float32Array,
  blockSize: number,
  code: Float32Array = DYNAMIC_MAP,
): Blockwise8 {
  const n = values.length;
  const blocks = Math.ceil(n / blockSize);
  const absmax = new Float32Array(blocks);
  const codes = new Uint8Array(n);
  for (let b = 0; b < blocks; b++) {
    const start = b * blockSize;
    const end = Math.min(n, start + blockSize);
    let max = 0;
    for (let i = start; i < end; i++) {
      const a = Math.abs(values[i] as number);
      if (a > max) max = a;
    }
    absmax[b] = max;
    const inv = f(1 / max);
    for (let i = start; i < end; i++) codes[i] = quantizeCode8(code, f((values[i] as number) * inv));
  }
  return { codes, absmax, blockSize, code };
}

/** code[q] · absmax[block] in float32. */
export function dequantizeBlockwise8(
  q: Blockwise8,
  out: Float32Array = new Float32Array(q.codes.length),
): Float32Array {
  const { codes, absmax, blockSize, code } = q;
  for (let i = 0; i < codes.length; i++)
    out[i] = (code[codes[i] as number] as number) * (absmax[(i / blockSize) | 0] as number);
  return out;
}
