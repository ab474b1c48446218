import { f32BitsToBf16, f32BitsToF16 } from './float16.ts';
import {
  type SafetensorsDtype,
  SAFETENSORS_ERROR_CODES as E,
  MAX_HEADER_BYTES,
  assertLittleEndianHost,
  checkedByteSize,
  dtypeRank,
  dtypeSize,
  isSafetensorsDtype,
  isShape,
  stError,
} from './safetensors-types.ts';

/**
 * Dtypes the writer converts values into. Any dtype can also be written from raw little-endian
 * bytes by passing a Uint8Array of numel * size bytes.
 *   Float32Array -> F32 | F16 | BF16 (round to nearest even)
 *   Int32Array   -> I32 | I64 (sign-extended) | I16 | U16 | I8 | U8 (range-checked) | BOOL (non-zero -> 1)
 *   Uint8Array   -> raw bytes of any dtype (BOOL normalised to 0/1)
 */
export type WritableDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL';

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export type TensorsToWrite = ReadonlyArray<TensorToWrite> | ReadonlyMap<string, Omit<TensorToWrite, 'name'>>;

interface Prepared {
  name: string;
  nameKey: Uint8Array;
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

const utf8 = new TextEncoder();
const LONE_SURROGATE = /\p{Cs}/u;
const INT_RANGES: Partial<Record<SafetensorsDtype, [number, number]>> = {
  I8: [-128, 127],
  U8: [0, 255],
  I16: [-32768, 32767],
  U16: [0, 65535],
};

/**
 * Serializes tensors like the reference Rust writer: data ordered by descending dtype alignment
 * (its Dtype enum order), then by name in UTF-8 byte order; header lists `__metadata__` first
 * (keys sorted, only when given) then tensors in data order, padded with spaces to 8-byte alignment.
 */
export function serializeSafetensors(tensors: TensorsToWrite, metadata?: Record<string, string>): Uint8Array {
  assertLittleEndianHost();
  const list: TensorToWrite[] = isMap(tensors) ? [...tensors].map(([name, t]) => ({ ...t, name })) : [...tensors];
  const seen = new Set<string>();
  const prepared: Prepared[] = [];
  for (const tensor of list) {
    const item = prepare(tensor);
    if (seen.has(item.name)) throw stError(E.DUPLICATE, `duplicate tensor name "${item.name}"`, { name: item.name });
    seen.add(item.name);
    prepared.push(item);
  }
  prepared.sort((a, b) => dtypeRank(b.dtype) - dtypeRank(a.dtype) || compareBytes(a.nameKey, b.nameKey));

  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${metadataJson(metadata)}`);
  let offset = 0;
  for (const t of prepared) {
    const end = offset + t.bytes.byteLength;
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}",` +
        `"shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  if (headerLength > MAX_HEADER_BYTES) {
    throw stError(E.HEADER_TOO_LARGE, `header would take ${headerLength} bytes, limit is ${MAX_HEADER_BYTES}`);
  }
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setUint32(0, headerLength, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLength);
  let cursor = 8 + headerLength;
  for (const t of prepared) {
    out.set(t.bytes, cursor);
    cursor += t.bytes.byteLength;
  }
  return out;
}

function isMap(value: TensorsToWrite): value is ReadonlyMap<string, Omit<TensorToWrite, 'name'>> {
  return value instanceof Map;
}

function metadataJson(metadata: Record<string, string>): string {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw stError(E.METADATA, 'metadata must be an object of strings');
  }
  const entries = Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [key, value] of entries) {
    if (typeof value !== 'string' || LONE_SURROGATE.test(key) || LONE_SURROGATE.test(value)) {
      throw stError(E.METADATA, `metadata "${key}" must be a well-formed string`, { key });
    }
  }
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
}

function inputError(name: string, message: string): Error {
  return stError(E.WRITE_INPUT, `tensor "${name}": ${message}`, { name });
}

function prepare(tensor: TensorToWrite): Prepared {
  const { name, dtype, data } = tensor;
  if (typeof name !== 'string' || name === '__metadata__' || LONE_SURROGATE.test(name)) {
    throw stError(E.WRITE_INPUT, 'tensor name must be a well-formed string other than "__metadata__"', {
      name: String(name),
    });
  }
  if (!isSafetensorsDtype(dtype)) throw stError(E.DTYPE, `tensor "${name}": unknown dtype`, { name });
  const shape = [...tensor.shape];
  if (!isShape(shape)) throw inputError(name, 'shape must be non-negative integers');
  const byteSize = checkedByteSize(shape, dtypeSize(dtype));
  if (byteSize === undefined) throw inputError(name, 'byte size overflows');
  const count = byteSize / dtypeSize(dtype);
  const bytes = encodeData(name, dtype, data, count);
  if (bytes.byteLength !== byteSize) {
    throw inputError(name, `data has ${bytes.byteLength} bytes, dtype and shape [${shape}] need ${byteSize}`);
  }
  return { name, nameKey: utf8.encode(name), dtype, shape, bytes };
}

function encodeData(name: string, dtype: SafetensorsDtype, data: TensorToWrite['data'], count: number): Uint8Array {
  if (data instanceof Uint8Array) {
    return dtype === 'BOOL' ? data.map((v) => (v === 0 ? 0 : 1)) : data;
  }
  if (data.length !== count) {
    throw inputError(name, `data holds ${data.length} elements, shape needs ${count}`);
  }
  if (data instanceof Float32Array) {
    if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (dtype === 'F16' || dtype === 'BF16') return narrowFloat(dtype, data);
  } else if (data instanceof Int32Array) {
    if (dtype === 'I32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (dtype === 'I64') {
      const words = new Int32Array(count * 2);
      for (let i = 0; i < count; i++) {
        const v = data[i] as number;
        words[2 * i] = v;
        words[2 * i + 1] = v >> 31;
      }
      return new Uint8Array(words.buffer);
    }
    if (dtype === 'BOOL') return Uint8Array.from(data, (v) => (v === 0 ? 0 : 1));
    const range = INT_RANGES[dtype];
    if (range) return narrowInt(name, dtype, data, range);
  }
  throw inputError(name, `cannot write ${data.constructor.name} as ${dtype}`);
}

function narrowFloat(dtype: 'F16' | 'BF16', data: Float32Array): Uint8Array {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint16Array(data.length);
  const convert = dtype === 'F16' ? f32BitsToF16 : f32BitsToBf16;
  for (let i = 0; i < bits.length; i++) out[i] = convert(bits[i] as number);
  return new Uint8Array(out.buffer);
}

function narrowInt(name: string, dtype: SafetensorsDtype, data: Int32Array, [min, max]: [number, number]): Uint8Array {
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (v < min || v > max) {
      throw stError(E.VALUE_RANGE, `tensor "${name}": value ${v} at ${i} does not fit ${dtype}`, { name, index: i });
    }
  }
  const out = dtypeSize(dtype) === 1 ? new Uint8Array(data.length) : new Uint16Array(data.length);
  out.set(data); // typed-array set wraps modulo 2^8 / 2^16: two's complement for I8/I16
  return new Uint8Array(out.buffer);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
