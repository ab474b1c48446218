import { PeftkitError } from './errors.ts';

/**
 * Stable error codes for safetensors content problems (filesystem failures use the
 * PEFTKIT_E_IO_* codes of `file-bytes.ts` / `atomic-write.ts`).
 *
 * TRUNCATED        file shorter than 8 bytes, header or tensor data runs past the end of the file
 * HEADER_TOO_LARGE header length > 100,000,000 bytes (also refused when writing)
 * HEADER_UTF8      header bytes are not valid UTF-8
 * HEADER_JSON      header not starting with `{`, invalid JSON, nested too deeply, not an object,
 *                  or a tensor name with a lone surrogate
 * HEADER_ENTRY     tensor entry not an object, missing fields or unknown extra fields
 * DTYPE            dtype unknown / not a string; dtype not supported by the requested operation
 * HEADER_SHAPE     shape not an array of non-negative safe integers
 * SIZE_OVERFLOW    element count * dtype size exceeds 2^53 - 1
 * OFFSETS          data_offsets not [begin, end] safe integers with begin <= end
 * SIZE_MISMATCH    end - begin differs from element count * dtype size
 * OVERLAP          two tensors share bytes of the data buffer
 * COVERAGE         hole between tensors, or bytes after the last tensor
 * DUPLICATE        duplicate JSON key at any level, or duplicate tensor name given to a writer
 * METADATA         `__metadata__` not an object of string values
 * VALUE_RANGE      integer outside the target range (I64/U32/U64 -> int32, int32 -> I8/U8)
 * WRITE_INPUT      invalid writer input (shape, data length, typed array kind, name, shard size)
 * ENDIANNESS       big-endian host (typed-array fast paths assume little-endian)
 * INDEX            sharded index missing fields or malformed
 * INDEX_PATH       shard file name in the index is not a plain basename inside the directory
 * SHARD_MISMATCH   a tensor is not in the shard the index names, or a shard holds unlisted tensors
 * NOT_FOUND        no model.safetensors nor model.safetensors.index.json in a directory
 */
export const SAFETENSORS_ERROR_CODES = {
  TRUNCATED: 'PEFTKIT_E_SAFETENSORS_TRUNCATED',
  HEADER_TOO_LARGE: 'PEFTKIT_E_SAFETENSORS_HEADER_TOO_LARGE',
  HEADER_UTF8: 'PEFTKIT_E_SAFETENSORS_HEADER_UTF8',
  HEADER_JSON: 'PEFTKIT_E_SAFETENSORS_HEADER_JSON',
  HEADER_ENTRY: 'PEFTKIT_E_SAFETENSORS_HEADER_ENTRY',
  DTYPE: 'PEFTKIT_E_SAFETENSORS_DTYPE',
  HEADER_SHAPE: 'PEFTKIT_E_SAFETENSORS_HEADER_SHAPE',
  SIZE_OVERFLOW: 'PEFTKIT_E_SAFETENSORS_SIZE_OVERFLOW',
  OFFSETS: 'PEFTKIT_E_SAFETENSORS_OFFSETS',
  SIZE_MISMATCH: 'PEFTKIT_E_SAFETENSORS_SIZE_MISMATCH',
  OVERLAP: 'PEFTKIT_E_SAFETENSORS_OVERLAP',
  COVERAGE: 'PEFTKIT_E_SAFETENSORS_COVERAGE',
  DUPLICATE: 'PEFTKIT_E_SAFETENSORS_DUPLICATE',
  METADATA: 'PEFTKIT_E_SAFETENSORS_METADATA',
  VALUE_RANGE: 'PEFTKIT_E_SAFETENSORS_VALUE_RANGE',
  WRITE_INPUT: 'PEFTKIT_E_SAFETENSORS_WRITE_INPUT',
  ENDIANNESS: 'PEFTKIT_E_SAFETENSORS_ENDIANNESS',
  INDEX: 'PEFTKIT_E_SAFETENSORS_INDEX',
  INDEX_PATH: 'PEFTKIT_E_SAFETENSORS_INDEX_PATH',
  SHARD_MISMATCH: 'PEFTKIT_E_SAFETENSORS_SHARD_MISMATCH',
  NOT_FOUND: 'PEFTKIT_E_SAFETENSORS_NOT_FOUND',
} as const;

export type SafetensorsErrorCode = (typeof SAFETENSORS_ERROR_CODES)[keyof typeof SAFETENSORS_ERROR_CODES];

export function stError(
  code: SafetensorsErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): PeftkitError {
  return new PeftkitError(code, message, details);
}

/** The format limit every reader enforces (same value as the reference Rust crate). */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * Element sizes, listed in the reference writer's dtype order (ascending alignment).
 * The writer lays out data by descending rank, then name, exactly like the Rust crate.
 */
export const DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_SIZES;

const DTYPE_ORDER = Object.keys(DTYPE_SIZES) as SafetensorsDtype[];

export function isSafetensorsDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_SIZES, value);
}

export function dtypeSize(dtype: SafetensorsDtype): number {
  return DTYPE_SIZES[dtype];
}

/** Position in the reference crate's Dtype enum (its derived Ord). */
export function dtypeRank(dtype: SafetensorsDtype): number {
  return DTYPE_ORDER.indexOf(dtype);
}

/** One tensor of a parsed file. `data` is a view into the file bytes (not a copy). */
export interface SafetensorsTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  readonly data: Uint8Array;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  /** In data-buffer order. */
  tensors: Map<string, SafetensorsTensor>;
}

/** Element count of a validated shape, or undefined when count * elementSize would pass 2^53 - 1. */
export function checkedByteSize(shape: readonly number[], elementSize: number): number | undefined {
  if (shape.includes(0)) return 0;
  let bytes = elementSize;
  for (const dim of shape) {
    if (bytes > Number.MAX_SAFE_INTEGER / dim) return undefined;
    bytes *= dim;
  }
  return bytes;
}

export function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && d >= 0);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Typed-array views of file bytes assume the host is little-endian, like every supported target. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function assertLittleEndianHost(): void {
  if (!HOST_LITTLE_ENDIAN) {
    throw stError(SAFETENSORS_ERROR_CODES.ENDIANNESS, 'big-endian hosts are not supported');
  }
}
