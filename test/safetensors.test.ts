import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeftkitError } from '../packages/io/src/errors.ts';
import {
  f16BitsToFloat32,
  f32BitsToBf16,
  f32BitsToF16,
  float32Bits,
  float32FromBits,
} from '../packages/io/src/float16.ts';
import {
  type SafetensorsTensor,
  type TensorToWrite,
  decodeTensor,
  parseSafetensors,
  rawBytes,
  serializeSafetensors,
} from '../packages/io/src/safetensors.ts';

/** Builds a file byte by byte, independent of the writer: LE u64 length, header, space padding, data. */
function handBuilt(header: string, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(header);
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + data.length);
  let n = padded;
  for (let i = 0; i < 8; i++) {
    out[i] = n % 256;
    n = Math.floor(n / 256);
  }
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  out.set(data, 8 + padded);
  return out;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PeftkitError, `expected PeftkitError, got ${String(error)}`);
    return error.code;
  }
  return 'no error';
}

function roundTrip(tensor: TensorToWrite): SafetensorsTensor {
  const file = parseSafetensors(serializeSafetensors([tensor]));
  const entry = file.tensors.get(tensor.name);
  assert.ok(entry);
  assert.equal(entry.dtype, tensor.dtype);
  assert.deepEqual(entry.shape, [...tensor.shape]);
  return entry;
}

test('hand-built file parses: F32, I64, U8, BOOL, metadata, scalar and empty tensors', () => {
  const header =
    '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"i":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[16,16]},' +
    '"q":{"dtype":"U8","shape":[3],"data_offsets":[16,19]},"m":{"dtype":"BOOL","shape":[1,1],"data_offsets":[19,20]}}';
  // 1.5f = 0x3fc00000, -2f = 0xc0000000, -3 as i64, then u8 bytes, then true.
  const data = [0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 7, 0xf0, 255, 1];
  const file = parseSafetensors(handBuilt(header, data));
  assert.deepEqual(file.metadata, { format: 'pt' });
  assert.deepEqual([...file.tensors.keys()], ['w', 'i', 'e', 'q', 'm']);
  const get = (name: string) => decodeTensor(file.tensors.get(name) as SafetensorsTensor);
  assert.deepEqual(get('w'), { dtype: 'float32', shape: [2], values: new Float32Array([1.5, -2]) });
  assert.deepEqual(get('i'), { dtype: 'int32', shape: [], values: new Int32Array([-3]) });
  assert.deepEqual(get('e'), { dtype: 'float32', shape: [0, 3], values: new Float32Array(0) });
  assert.deepEqual(get('q'), { dtype: 'int32', shape: [3], values: new Int32Array([7, 240, 255]) });
  assert.deepEqual(get('m'), { dtype: 'bool', shape: [1, 1], values: new Uint8Array([1]) });
  assert.deepEqual(rawBytes(file.tensors.get('q') as SafetensorsTensor, 'U8'), new Uint8Array([7, 0xf0, 255]));
  assert.equal(
    codeOf(() => rawBytes(file.tensors.get('w') as SafetensorsTensor, 'U8')),
    'PEFTKIT_E_SAFETENSORS_DTYPE',
  );
});

test('writer output is byte-identical to the reference Rust crate test vectors', () => {
  const f32 = serializeSafetensors([
    { name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) },
  ]);
  const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  const data = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];
  assert.deepEqual(f32, handBuilt(header, data));
  assert.deepEqual(serializeSafetensors([]), handBuilt('{}', []));
  assert.deepEqual(serializeSafetensors([], { framework: 'pt' }), handBuilt('{"__metadata__":{"framework":"pt"}}', []));
});

test('writer orders data by descending dtype alignment then name, header padded to 8', () => {
  const bytes = serializeSafetensors(
    new Map<string, Omit<TensorToWrite, 'name'>>([
      ['b', { dtype: 'U8', shape: [1], data: new Uint8Array([1]) }],
      ['z', { dtype: 'F32', shape: [1], data: new Float32Array([1]) }],
      ['a', { dtype: 'F32', shape: [1], data: new Float32Array([2]) }],
      ['h', { dtype: 'I64', shape: [1], data: new Int32Array([3]) }],
      ['c', { dtype: 'BF16', shape: [1], data: new Float32Array([4]) }],
    ]),
    { b: '2', a: '1' },
  );
  const headerLength = new DataView(bytes.buffer).getUint32(0, true);
  assert.equal((8 + headerLength) % 8, 0);
  const file = parseSafetensors(bytes);
  assert.deepEqual([...file.tensors.keys()], ['h', 'a', 'z', 'c', 'b']);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
  assert.ok(text.startsWith('{"__metadata__":{"a":"1","b":"2"},"h":'));
  assert.deepEqual(file.metadata, { a: '1', b: '2' });
});

test('F32, I32, U8 and BOOL round trips are bit-exact', () => {
  const floatBits = new Uint32Array([
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00001, 0xffbfffff, 1, 0x3f800000,
  ]);
  const f32 = decodeTensor(
    roundTrip({ name: 'f', dtype: 'F32', shape: [2, 4], data: new Float32Array(floatBits.buffer) }),
  );
  assert.deepEqual(new Uint32Array((f32.values as Float32Array).buffer), floatBits);
  const ints = new Int32Array([-2147483648, -1, 0, 1, 2147483647]);
  assert.deepEqual(decodeTensor(roundTrip({ name: 'i', dtype: 'I32', shape: [5], data: ints })).values, ints);
  const u8 = new Uint8Array([0, 1, 127, 128, 255]);
  assert.deepEqual(rawBytes(roundTrip({ name: 'u', dtype: 'U8', shape: [5], data: u8 })), u8);
  assert.deepEqual(
    decodeTensor(roundTrip({ name: 'u', dtype: 'U8', shape: [5], data: u8 })).values,
    new Int32Array(u8),
  );
  const fromBytes = decodeTensor(roundTrip({ name: 'b', dtype: 'BOOL', shape: [3], data: new Uint8Array([0, 1, 9]) }));
  assert.deepEqual(fromBytes, { dtype: 'bool', shape: [3], values: new Uint8Array([0, 1, 1]) });
  const fromInts = decodeTensor(roundTrip({ name: 'b', dtype: 'BOOL', shape: [2], data: new Int32Array([0, -5]) }));
  assert.deepEqual(fromInts.values, new Uint8Array([0, 1]));
});

test('narrow integer dtypes round trip and range-check', () => {
  const cases: Array<[TensorToWrite['dtype'], number[]]> = [
    ['I8', [-128, -1, 0, 127]],
    ['U8', [0, 200, 255, 1]],
    ['I16', [-32768, -1, 0, 32767]],
    ['U16', [0, 1, 40000, 65535]],
    ['I64', [-2147483648, -1, 0, 2147483647]],
  ];
  for (const [dtype, values] of cases) {
    const data = new Int32Array(values);
    assert.deepEqual(decodeTensor(roundTrip({ name: 't', dtype, shape: [2, 2], data })).values, data, dtype);
  }
  const tooBig = (dtype: TensorToWrite['dtype'], v: number) =>
    codeOf(() => serializeSafetensors([{ name: 't', dtype, shape: [1], data: new Int32Array([v]) }]));
  assert.equal(tooBig('I8', 128), 'PEFTKIT_E_SAFETENSORS_VALUE_RANGE');
  assert.equal(tooBig('U8', -1), 'PEFTKIT_E_SAFETENSORS_VALUE_RANGE');
  assert.equal(tooBig('U16', 65536), 'PEFTKIT_E_SAFETENSORS_VALUE_RANGE');
});

test('64- and 32-bit integers outside int32 are refused when decoding', () => {
  const entry = (dtype: SafetensorsTensor['dtype'], bytes: number[]): SafetensorsTensor => ({
    dtype,
    shape: [1],
    data: new Uint8Array(bytes),
  });
  assert.equal(
    codeOf(() => decodeTensor(entry('I64', [0, 0, 0, 0x80, 0, 0, 0, 0]))),
    'PEFTKIT_E_SAFETENSORS_VALUE_RANGE',
  );
  assert.equal(
    codeOf(() => decodeTensor(entry('I64', [0, 0, 0, 0, 1, 0, 0, 0]))),
    'PEFTKIT_E_SAFETENSORS_VALUE_RANGE',
  );
  assert.equal(
    codeOf(() => decodeTensor(entry('U64', [255, 255, 255, 255, 255, 255, 255, 255]))),
    'PEFTKIT_E_SAFETENSORS_VALUE_RANGE',
  );
  assert.equal(
    codeOf(() => decodeTensor(entry('U32', [0, 0, 0, 0x80]))),
    'PEFTKIT_E_SAFETENSORS_VALUE_RANGE',
  );
  assert.deepEqual(decodeTensor(entry('U32', [255, 255, 255, 0x7f])).values, new Int32Array([2147483647]));
  assert.deepEqual(decodeTensor(entry('I64', [255, 255, 255, 255, 255, 255, 255, 255])).values, new Int32Array([-1]));
  assert.equal(
    codeOf(() => decodeTensor(entry('I64', [0, 0, 0, 0]))),
    'PEFTKIT_E_SAFETENSORS_SIZE_MISMATCH',
  );
});

test('float32 -> F16 rounds to nearest even, handles subnormals, inf and nan', () => {
  const f16 = (v: number) => f32BitsToF16(float32Bits(v));
  const cases: Array<[number, number]> = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0, 0x0000],
    [-0, 0x8000],
    [65504, 0x7bff],
    [65519.99, 0x7bff],
    [65520, 0x7c00], // tie between 65504 (odd) and 2^16 -> inf
    [1e9, 0x7c00],
    [-Infinity, 0xfc00],
    [1 + 2 ** -11, 0x3c00], // tie -> even mantissa 0
    [1 + 3 * 2 ** -11, 0x3c02], // tie -> even mantissa 2
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above the tie -> up
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie with zero -> even (0)
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 ulps -> 2
    [2 ** -25 * 1.001, 0x0001],
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [1023.5 * 2 ** -24, 0x0400], // tie -> even -> smallest normal
    [2 ** -14, 0x0400],
  ];
  for (const [value, bits] of cases) assert.equal(f16(value), bits, `f16(${value})`);
  assert.equal(f16(Number.NaN) & 0x7c00, 0x7c00);
  assert.notEqual(f16(Number.NaN) & 0x3ff, 0);
  assert.ok(Number.isNaN(f16BitsToFloat32(f32BitsToF16(0x7f800001)))); // signalling payload stays NaN
  assert.equal(f16BitsToFloat32(0x0001), 2 ** -24);
  assert.equal(f16BitsToFloat32(0xfc00), -Infinity);
  assert.ok(Object.is(f16BitsToFloat32(0x8000), -0));
});

test('every F16 and BF16 bit pattern survives decode -> encode', () => {
  const f16Bits = new Uint16Array(65536).map((_, i) => i);
  const f16Entry: SafetensorsTensor = { dtype: 'F16', shape: [65536], data: new Uint8Array(f16Bits.buffer) };
  const widened = decodeTensor(f16Entry).values as Float32Array;
  const back = roundTrip({ name: 'h', dtype: 'F16', shape: [65536], data: widened });
  const backBits = new Uint16Array(rawBytes(back).buffer);
  for (let h = 0; h < 65536; h++) {
    const nanPattern = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (nanPattern) assert.ok(Number.isNaN(widened[h]) && ((backBits[h] as number) & 0x7fff) > 0x7c00, `nan ${h}`);
    else if (backBits[h] !== h) assert.fail(`F16 ${h.toString(16)} -> ${backBits[h]?.toString(16)}`);
  }
  for (let b = 0; b < 65536; b++) {
    const x = float32Bits(float32FromBits(b << 16));
    const nanPattern = (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
    const out = f32BitsToBf16(x);
    if (nanPattern ? (out & 0x7fff) <= 0x7f80 : out !== b) assert.fail(`BF16 ${b.toString(16)} -> ${out.toString(16)}`);
  }
});

test('float32 -> BF16 rounding and F64/F8 widening', () => {
  const bf = (bits: number) => f32BitsToBf16(bits);
  assert.equal(bf(float32Bits(1)), 0x3f80);
  assert.equal(bf(float32Bits(1 + 2 ** -8)), 0x3f80); // tie -> even
  assert.equal(bf(float32Bits(1 + 3 * 2 ** -8)), 0x3f82); // tie -> even (up)
  assert.equal(bf(0x7f7fffff), 0x7f80); // max float32 rounds to inf
  assert.equal(bf(0x7f800001), 0x7fc0); // signalling NaN -> quiet NaN
  assert.equal(bf(0x00008000), 0x0000); // subnormal tie -> even
  assert.equal(bf(0x00018000), 0x0002);
  assert.equal(bf(0x80000000), 0x8000);
  const bfEntry = roundTrip({ name: 'b', dtype: 'BF16', shape: [3], data: new Float32Array([1, -2.5, 3.140625]) });
  assert.deepEqual(decodeTensor(bfEntry).values, new Float32Array([1, -2.5, 3.140625]));

  const f64 = new Float64Array([0.1, -1e300, 2 ** -149]);
  const f64Entry: SafetensorsTensor = { dtype: 'F64', shape: [3], data: new Uint8Array(f64.buffer) };
  assert.deepEqual(decodeTensor(f64Entry).values, new Float32Array([Math.fround(0.1), -Infinity, 2 ** -149]));
  const e5m2: SafetensorsTensor = { dtype: 'F8_E5M2', shape: [3], data: new Uint8Array([0x3c, 0xc0, 0x7c]) };
  assert.deepEqual(decodeTensor(e5m2).values, new Float32Array([1, -2, Infinity]));
  const e4m3: SafetensorsTensor = { dtype: 'F8_E4M3', shape: [4], data: new Uint8Array([0x38, 0x7e, 0x01, 0x7f]) };
  const v = decodeTensor(e4m3).values;
  assert.deepEqual([...v.subarray(0, 3)], [1, 448, 2 ** -9]);
  assert.ok(Number.isNaN(v[3]));
});

test('decoding works on unaligned views', () => {
  const file = serializeSafetensors([
    { name: 'a', dtype: 'F16', shape: [2], data: new Float32Array([1.5, -3]) },
    { name: 'b', dtype: 'I64', shape: [2], data: new Int32Array([-7, 9]) },
    { name: 'c', dtype: 'F32', shape: [1], data: new Float32Array([0.25]) },
  ]);
  const shifted = new Uint8Array(file.length + 3);
  shifted.set(file, 3);
  const parsed = parseSafetensors(shifted.subarray(3));
  const get = (name: string) => decodeTensor(parsed.tensors.get(name) as SafetensorsTensor).values;
  assert.deepEqual(get('a'), new Float32Array([1.5, -3]));
  assert.deepEqual(get('b'), new Int32Array([-7, 9]));
  assert.deepEqual(get('c'), new Float32Array([0.25]));
});

test('writer rejects invalid input with stable codes', () => {
  const write = (tensors: TensorToWrite[], metadata?: Record<string, string>) =>
    codeOf(() => serializeSafetensors(tensors, metadata));
  const f = (name: string, shape: number[], n: number): TensorToWrite => ({
    name,
    dtype: 'F32',
    shape,
    data: new Float32Array(n),
  });
  assert.equal(write([f('a', [2], 2), f('a', [1], 1)]), 'PEFTKIT_E_SAFETENSORS_DUPLICATE');
  assert.equal(write([f('a', [3], 2)]), 'PEFTKIT_E_SAFETENSORS_WRITE_INPUT');
  assert.equal(write([f('__metadata__', [1], 1)]), 'PEFTKIT_E_SAFETENSORS_WRITE_INPUT');
  assert.equal(write([f('a', [-1], 0)]), 'PEFTKIT_E_SAFETENSORS_WRITE_INPUT');
  assert.equal(write([f('\ud800', [1], 1)]), 'PEFTKIT_E_SAFETENSORS_WRITE_INPUT');
  assert.equal(
    write([{ name: 'a', dtype: 'I32', shape: [1], data: new Float32Array(1) }]),
    'PEFTKIT_E_SAFETENSORS_WRITE_INPUT',
  );
  assert.equal(
    write([{ name: 'a', dtype: 'U8', shape: [2], data: new Uint8Array(3) }]),
    'PEFTKIT_E_SAFETENSORS_WRITE_INPUT',
  );
  assert.equal(
    write([{ name: 'a', dtype: 'X' as 'U8', shape: [1], data: new Uint8Array(1) }]),
    'PEFTKIT_E_SAFETENSORS_DTYPE',
  );
  assert.equal(write([], { a: 1 as unknown as string }), 'PEFTKIT_E_SAFETENSORS_METADATA');
  // Raw bytes may carry any dtype, e.g. F64 written from its little-endian bytes.
  const f64 = new Float64Array([0.5]);
  const entry = roundTrip({ name: 'd', dtype: 'F64', shape: [1], data: new Uint8Array(f64.buffer) });
  assert.deepEqual(decodeTensor(entry).values, new Float32Array([0.5]));
});
