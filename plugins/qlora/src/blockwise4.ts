import { PeftkitError } from '@peftkit/core';
import { type Blockwise8, dequantizeBlockwise8, quantizeBlockwise8 } from './blockwise8.ts';
import { codeBook, fp4Index, nf4Index, type QuantType } from './codebooks.ts';

/**
 * 4-bit blockwise quantization as bitsandbytes `quantize_4bit` / `dequantize_4bit` (CUDA kernels): flatten row-major,
 * absmax per block, scaled = x · float32(1/absmax) clamped to [−1, 1], code by bnb's decision pivots, two codes per
 * byte with element 2k in the HIGH nibble (an odd last element leaves the low nibble 0). Optional double quantization
 * of the absmax: offset = mean, (absmax − offset) quantized 8-bit blockwise (256) with the signed dynamic map.
 */

export const NESTED_BLOCK_SIZE = 256;

export interface Quantize4Options {
  readonly quantType: QuantType;
  /** Power of two in 32..4096 (bnb's CUDA kernels), default 64. */
  readonly blockSize: number;
  readonly doubleQuant: boolean;
}

/** Double-quantized block scales: absmax ≈ code8[codes] · nested absmax + offset. */
export interface NestedAbsmax extends Blockwise8 {
  readonly offset: number;
}

/** A packed 4-bit tensor with everything needed to restore it (bnb's QuantState). Immutable once built. */
export interface Quantized4 {
  readonly quantType: QuantType;
  readonly blockSize: number;
  readonly shape: readonly number[];
  /** ceil(n/2) bytes. */
  readonly packed: Uint8Array;
  /** The 16-entry code book (bnb's `quant_map`). */
  readonly code: Float32Array;
  /** float32 absmax per block, or its double-quantized form. */
  readonly absmax: Float32Array | NestedAbsmax;
}

export function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 32 || blockSize > 4096 || (blockSize & (blockSize - 1)) !== 0) {
    throw new PeftkitError(
      'PEFTKIT_E_QLORA_BLOCK_SIZE',
      `block size must be a power of two in 32..4096, got ${blockSize}`,
      { blockSize },
    );
  }
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function blockAbsmax(values: Float32Array, blockSize: number): Float32Array {
  const n = values.length;
  const absmax = new Float32Array(Math.ceil(n / blockSize));
  for (let b = 0; b < absmax.length; b++) {
    let max = 0;
    const end = Math.min(n, (b + 1) * blockSize);
    for (let i = b * blockSize; i < end; i++) {
      const a = Math.abs(values[i] as number);
      if (a > max) max = a;
    }
    absmax[b] = max;
  }
  return absmax;
}

/**
 * Double quantization: the mean is taken in float64 and rounded to float32 (bnb's CUDA mean rounds per reduction step).
 */
export function quantizeAbsmax(absmax: Float32Array): NestedAbsmax {
  let sum = 0;
  for (const a of absmax) sum += a;
  const offset = Math.fround(sum / absmax.length);
  const centered = new Float32Array(absmax.length);
  for (let i = 0; i < absmax.length; i++) centered[i] = (absmax[i] as number) - offset;
  return { ...quantizeBlockwise8(centered, NESTED_BLOCK_SIZE), offset };
}

export function restoreAbsmax(absmax: Float32Array | NestedAbsmax): Float32Array {
  if (absmax instanceof Float32Array) return absmax;
  const out = dequantizeBlockwise8(absmax);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + absmax.offset;
  return out;
}

export function quantize4(values: Float32Array, shape: readonly number[], options: Quantize4Options): Quantized4 {
  checkBlockSize(options.blockSize);
  const n = values.length;
  if (numel(shape) !== n)
    throw new PeftkitError('PEFTKIT_E_QLORA_SHAPE', `shape [${shape}] does not hold ${n} values`, { shape, length: n });
  const { blockSize, quantType } = options;
  const index = quantType === 'nf4' ? nf4Index : fp4Index;
  const absmax = blockAbsmax(values, blockSize);
  const packed = new Uint8Array(Math.ceil(n / 2));
  const f = Math.fround;
  for (let b = 0; b < absmax.length; b++) {
    const inv = f(1 / (absmax[b] as number));
    const end = Math.min(n, (b + 1) * blockSize);
    // Block sizes are even, so element 2k and 2k+1 never straddle a block boundary.
    for (let i = b * blockSize; i < end; i++) {
      const scaled = Math.min(1, Math.max(-1, f((values[i] as number) * inv)));
      const q = index(scaled);
      packed[i >> 1] = (packed[i >> 1] as number) | ((i & 1) === 0 ? q << 4 : q);
    }
  }
  return {
    quantType,
    blockSize,
    shape: [...shape],
    packed,
    code: codeBook(quantType),
    absmax: options.doubleQuant ? quantizeAbsmax(absmax) : absmax,
  };
}

/** code[idx] · absmax[block] in float32 (with double quantization, absmax restored first, as bnb does). */
export function dequantize4(q: Quantized4, out: Float32Array = new Float32Array(numel(q.shape))): Float32Array {
  const absmax = restoreAbsmax(q.absmax);
  const { packed, code, blockSize } = q;
  const n = out.length;
  // Block sizes are even, so a block starts on a byte boundary: two codes per byte, one scale per block.
  for (let start = 0, b = 0; start < n; start += blockSize, b++) {
    const a = absmax[b] as number;
    const end = Math.min(n, start + blockSize);
    let i = start;
    for (; i + 1 < end; i += 2) {
      const byte = packed[i >> 1] as number;
      out[i] = (code[byte >> 4] as number) * a;
      out[i + 1] = (code[byte & 15] as number) * a;
    }
    if (i < end) out[i] = (code[(packed[i >> 1] as number) >> 4] as number) * a;
  }
  return out;
}

/** Bytes of the packed codes and block scales (what bits/param counts; the fixed code tables are left out). */
export function quantizedBytes(q: Quantized4): number {
  const scales =
    q.absmax instanceof Float32Array ? q.absmax.byteLength : q.absmax.codes.byteLength + q.absmax.absmax.byteLength + 4;
  return q.packed.byteLength + scales;
}
