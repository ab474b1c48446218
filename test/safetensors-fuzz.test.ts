import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeftkitError } from '../packages/io/src/errors.ts';
import {
  DTYPE_SIZES,
  type SafetensorsFile,
  type TensorToWrite,
  decodeTensor,
  parseSafetensors,
  serializeSafetensors,
} from '../packages/io/src/safetensors.ts';

/** mulberry32: small, seedable, identical on every runtime. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = rng(0x5afe7e45);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;

const BASES: Uint8Array[] = [
  serializeSafetensors(
    [
      { name: 'w', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      { name: 'b', dtype: 'F16', shape: [3], data: new Float32Array([0.5, -1, 2]) },
      { name: 'q', dtype: 'U8', shape: [4], data: new Uint8Array([1, 2, 3, 4]) },
      { name: 'n', dtype: 'I64', shape: [], data: new Int32Array([-9]) },
      { name: 'e', dtype: 'BF16', shape: [0, 4], data: new Float32Array(0) },
    ] satisfies TensorToWrite[],
    { format: 'pt' },
  ),
  serializeSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: new Float32Array([1]) }]),
  serializeSafetensors([
    { name: 'm', dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    { name: 'i', dtype: 'I8', shape: [2], data: new Int32Array([-1, 5]) },
    { name: 'j', dtype: 'I32', shape: [2], data: new Int32Array([7, 8]) },
  ]),
  serializeSafetensors([], { only: 'metadata' }),
];

function headerText(bytes: Uint8Array): string {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  return new TextDecoder().decode(bytes.subarray(8, 8 + n));
}

/** Re-wraps header text (padded) around the original data buffer; `length` may lie. */
function rebuild(header: string, data: Uint8Array, length?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  out.set(data, 8 + padded);
  return out;
}

function dataOf(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(8 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true));
}

const HOSTILE_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e300,
  'F32',
  'F33',
  '',
  [],
  {},
  [[]],
  [-1],
  [1.5],
  ['2'],
  [2 ** 40, 2 ** 40],
  [2 ** 53],
  [0, 2 ** 60],
  [2 ** 31, 2 ** 31],
  [0, 0],
  [4, 0],
  [0, 2 ** 40],
  [0, 1, 2],
  { a: 1 },
  ...Object.keys(DTYPE_SIZES),
];

/** Replaces, adds or deletes one field of one entry (or the metadata) and re-encodes the header. */
function structuralMutation(base: Uint8Array): Uint8Array {
  const header = JSON.parse(headerText(base)) as Record<string, Record<string, unknown>>;
  const names = Object.keys(header);
  const target = names.length > 0 && rand() < 0.9 ? header[pick(names)] : undefined;
  const fields = ['dtype', 'shape', 'data_offsets', '__metadata__', 'extra'];
  const value = structuredClone(pick(HOSTILE_VALUES));
  if (target && typeof target === 'object') {
    const field = pick(fields);
    if (rand() < 0.15) delete target[field];
    else target[field] = value;
  } else {
    header[pick(['__metadata__', 'new', ...names])] = value as Record<string, unknown>;
  }
  return rebuild(JSON.stringify(header), dataOf(base));
}

function flipBits(base: Uint8Array, limit: number, flips: number): Uint8Array {
  const out = base.slice();
  for (let i = 0; i < flips; i++) {
    const at = int(Math.min(limit, out.length));
    out[at] = (out[at] as number) ^ (1 << int(8));
  }
  return out;
}

function hostileTemplate(): Uint8Array {
  const t = (name: string, dtype: string, shape: string, a: number, b: number) =>
    `"${name}":{"dtype":"${dtype}","shape":${shape},"data_offsets":[${a},${b}]}`;
  const data = new Uint8Array(int(32));
  const depth = 9 + int(20_000);
  const k = int(16);
  const templates = [
    () => pick(['[]', '[1,2]', '1', '-0', '"str"', 'null', 'true', '{}', '{"a":1}', '{"__metadata__":null}']),
    () => `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`,
    () => `{"a":${'{"b":'.repeat(depth)}0${'}'.repeat(depth)}}`,
    () => `{${t('a', 'U8', '[4]', 0, 4)},${t('b', 'U8', '[4]', k, k + 4)}}`,
    () => `{${t('a', 'U8', '[4]', 0, 4)},${t('a', 'U8', '[4]', 4, 8)}}`,
    () => `{${t('a', 'F32', `[${2 ** 40},${2 ** 40}]`, 0, 4)}}`,
    () => `{${t('a', pick(Object.keys(DTYPE_SIZES)), `[${k}]`, 0, data.length)}}`,
    () => `{${t('a', 'U8', `[${k}]`, 2 ** 50, 2 ** 50 + k)}}`,
    () => `{${t('a', 'U8', `[${k}]`, 0, k)}}`,
  ];
  const header = pick(templates)();
  const lie =
    rand() < 0.2 ? pick([2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 100_000_001n, BigInt(header.length + 100)]) : undefined;
  return rebuild(header, data, lie);
}

function randomLengthPrefix(base: Uint8Array): Uint8Array {
  const out = base.slice();
  const n = BigInt(new DataView(base.buffer, base.byteOffset).getUint32(0, true));
  const choices = [
    0n,
    1n,
    7n,
    n - 8n,
    n - 1n,
    n + 1n,
    n + 8n,
    2n ** 32n + n,
    2n ** 53n,
    2n ** 63n,
    2n ** 64n - 1n,
    100_000_000n,
  ];
  const value = rand() < 0.7 ? pick(choices) : BigInt(int(2 ** 32)) * BigInt(int(2 ** 32));
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
  return out;
}

function randomBytes(): Uint8Array {
  const out = new Uint8Array(int(80));
  for (let i = 0; i < out.length; i++) out[i] = int(256);
  if (out.length >= 8 && rand() < 0.5) {
    out.fill(0, 1, 8);
    out[0] = int(out.length - 7);
    if (out.length > 8) out[8] = 0x7b;
  }
  return out;
}

/** A successful parse must describe exactly the bytes it was given. */
function assertConsistent(file: SafetensorsFile, bytes: Uint8Array): void {
  const headerEnd = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const spans = [...file.tensors.values()].map((t) => {
    let count = DTYPE_SIZES[t.dtype];
    for (const d of t.shape) count *= d;
    assert.equal(t.data.byteLength, count);
    assert.equal(t.data.buffer, bytes.buffer);
    return [t.data.byteOffset - bytes.byteOffset, t.data.byteOffset - bytes.byteOffset + t.data.byteLength] as const;
  });
  let cursor = headerEnd;
  for (const [begin, end] of spans) {
    assert.equal(begin, cursor);
    cursor = end;
  }
  assert.equal(cursor, bytes.length);
  for (const value of Object.values(file.metadata)) assert.equal(typeof value, 'string');
}

function check(bytes: Uint8Array, outcomes: Map<string, number>): void {
  let file: SafetensorsFile;
  try {
    file = parseSafetensors(bytes);
  } catch (error) {
    if (!(error instanceof PeftkitError) || !error.code.startsWith('PEFTKIT_E_SAFETENSORS_')) {
      assert.fail(`non-coded failure ${String(error)} for ${Array.from(bytes.subarray(0, 64))}`);
    }
    outcomes.set(error.code, (outcomes.get(error.code) ?? 0) + 1);
    return;
  }
  assertConsistent(file, bytes);
  for (const tensor of file.tensors.values()) {
    try {
      decodeTensor(tensor);
    } catch (error) {
      assert.ok(error instanceof PeftkitError && error.code === 'PEFTKIT_E_SAFETENSORS_VALUE_RANGE', String(error));
    }
  }
  outcomes.set('OK', (outcomes.get('OK') ?? 0) + 1);
}

test('2,500 corrupt, truncated and hostile inputs only ever raise coded errors', () => {
  const outcomes = new Map<string, number>();
  const started = Date.now();
  let cases = 0;
  const run = (count: number, make: () => Uint8Array) => {
    for (let i = 0; i < count; i++, cases++) check(make(), outcomes);
  };
  run(300, randomBytes);
  run(400, () => {
    const base = pick(BASES);
    return base.slice(0, int(base.length));
  });
  run(600, () => {
    const base = pick(BASES);
    return flipBits(base, base.length - dataOf(base).length, 1 + int(3));
  });
  run(200, () => flipBits(pick(BASES), Number.MAX_SAFE_INTEGER, 1 + int(4)));
  run(150, () => randomLengthPrefix(pick(BASES)));
  run(600, () => structuralMutation(pick(BASES)));
  run(300, hostileTemplate);
  for (const base of BASES) check(base, outcomes);

  assert.ok(cases >= 2500);
  assert.ok((outcomes.get('OK') ?? 0) >= BASES.length);
  const codes = [...outcomes.keys()].filter((c) => c !== 'OK');
  assert.ok(codes.length >= 10, `only ${codes.join(', ')}`);
  assert.ok(Date.now() - started < 20_000, 'fuzzing should take a few seconds');
});
