import { e4m3ToF32Table, f16ToF32Table } from './float16.ts';
import {
  type SafetensorsDtype,
  type SafetensorsTensor,
  SAFETENSORS_ERROR_CODES as E,
  assertLittleEndianHost,
  checkedByteSize,
  dtypeSize,
  isSafetensorsDtype,
  isShape,
  numel,
  stError,
} from './safetensors-types.ts';

/** A tensor widened to one of the three dtypes the tensor runtime works with. Values are owned copies. */
export type DecodedTensor =
  | { dtype: 'float32'; shape: number[]; values: Float32Array }
  | { dtype: 'int32'; shape: number[]; values: Int32Array }
  | { dtype: 'bool'; shape: number[]; values: Uint8Array };

/**
 * Widens a parsed tensor: float formats -> float32 (F64 rounds to nearest), integer formats -> int32
 * (I64/U32/U64 must fit, else VALUE_RANGE), BOOL -> bool with values 0/1.
 */
export function decodeTensor(entry: SafetensorsTensor): DecodedTensor {
  assertLittleEndianHost();
  const shape = [...entry.shape];
  const data = entry.data;
  // Entries from parseSafetensors are consistent; hand-built ones are checked before any view is made.
  if (!isSafetensorsDtype(entry.dtype)) throw stError(E.DTYPE, 'unknown dtype', { dtype: String(entry.dtype) });
  if (!isShape(shape)) throw stError(E.HEADER_SHAPE, 'shape is not an array of non-negative integers');
  if (checkedByteSize(shape, dtypeSize(entry.dtype)) !== data.byteLength) {
    throw stError(E.SIZE_MISMATCH, 'data length does not match dtype and shape', { dtype: entry.dtype, shape });
  }
  const n = numel(shape);
  switch (entry.dtype) {
    case 'F32':
      return { dtype: 'float32', shape, values: new Float32Array(ownedBuffer(data)) };
    case 'F16':
    case 'BF16':
    case 'F8_E5M2':
    case 'F8_E4M3':
    case 'F64':
      return { dtype: 'float32', shape, values: widenFloat(entry.dtype, data, n) };
    case 'BOOL': {
      const values = new Uint8Array(n);
      for (let i = 0; i < n; i++) values[i] = data[i] === 0 ? 0 : 1;
      return { dtype: 'bool', shape, values };
    }
    case 'I32':
      return { dtype: 'int32', shape, values: new Int32Array(ownedBuffer(data)) };
    default:
      return { dtype: 'int32', shape, values: widenInt(entry.dtype, data, n) };
  }
}

/**
 * An owned, aligned copy of the tensor's little-endian bytes (e.g. packed 4-bit weights stored as U8).
 * With `expected`, a tensor of another dtype is refused with DTYPE.
 */
export function rawBytes(entry: SafetensorsTensor, expected?: SafetensorsDtype): Uint8Array {
  if (expected !== undefined && entry.dtype !== expected) {
    throw stError(E.DTYPE, `expected dtype ${expected}, tensor is ${entry.dtype}`, {
      expected,
      actual: entry.dtype,
    });
  }
  return entry.data.slice();
}

function ownedBuffer(data: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(data.byteLength);
  copy.set(data);
  return copy.buffer;
}

/** A view when the bytes are already aligned for the element size, else an aligned copy. */
function alignedBuffer(data: Uint8Array, size: number): { buffer: ArrayBufferLike; offset: number } {
  if (data.byteOffset % size === 0) return { buffer: data.buffer, offset: data.byteOffset };
  return { buffer: ownedBuffer(data), offset: 0 };
}

function widenFloat(dtype: 'F16' | 'BF16' | 'F8_E5M2' | 'F8_E4M3' | 'F64', data: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  if (dtype === 'F8_E4M3') {
    const table = e4m3ToF32Table();
    for (let i = 0; i < n; i++) out[i] = table[data[i] as number] as number;
    return out;
  }
  if (dtype === 'F8_E5M2') {
    // E5M2 is the top byte of a binary16 value.
    const table = f16ToF32Table();
    for (let i = 0; i < n; i++) bits[i] = table[(data[i] as number) << 8] as number;
    return out;
  }
  if (dtype === 'F64') {
    const { buffer, offset } = alignedBuffer(data, 8);
    out.set(new Float64Array(buffer, offset, n));
    return out;
  }
  const { buffer, offset } = alignedBuffer(data, 2);
  const halves = new Uint16Array(buffer, offset, n);
  if (dtype === 'BF16') {
    for (let i = 0; i < n; i++) bits[i] = (halves[i] as number) << 16;
  } else {
    const table = f16ToF32Table();
    for (let i = 0; i < n; i++) bits[i] = table[halves[i] as number] as number;
  }
  return out;
}

function widenInt(dtype: SafetensorsDtype, data: Uint8Array, n: number): Int32Array {
  const { buffer, offset } = alignedBuffer(data, dtypeSize(dtype));
  switch (dtype) {
    case 'U8':
      return new Int32Array(data);
    case 'I8':
      return new Int32Array(new Int8Array(buffer, offset, n));
    case 'I16':
      return new Int32Array(new Int16Array(buffer, offset, n));
    case 'U16':
      return new Int32Array(new Uint16Array(buffer, offset, n));
    case 'U32': {
      const words = new Int32Array(buffer, offset, n);
      for (let i = 0; i < n; i++) if ((words[i] as number) < 0) throw rangeError(dtype, i);
      return words.slice();
    }
    case 'I64':
    case 'U64':
      return narrow64(dtype, new Int32Array(buffer, offset, n * 2), n);
    default:
      throw stError(E.DTYPE, `cannot decode dtype ${dtype} as int32`, { dtype });
  }
}

/** Each 64-bit value is a (low, high) int32 pair; it fits int32 when high is low's sign extension. */
function narrow64(dtype: 'I64' | 'U64', words: Int32Array, n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const lo = words[2 * i] as number;
    const hi = words[2 * i + 1] as number;
    const fits = dtype === 'I64' ? hi === lo >> 31 : hi === 0 && lo >= 0;
    if (!fits) throw rangeError(dtype, i);
    out[i] = lo;
  }
  return out;
}

function rangeError(dtype: SafetensorsDtype, index: number) {
  return stError(E.VALUE_RANGE, `${dtype} value at flat index ${index} does not fit int32`, { dtype, index });
}
