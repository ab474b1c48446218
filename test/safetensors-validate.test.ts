import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeftkitError } from '../packages/io/src/errors.ts';
import { parseSafetensors } from '../packages/io/src/safetensors.ts';

/** File from raw header text (space padded like a writer) and data; `length` overrides the prefix. */
function file(header: string, dataBytes: number, length?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + dataBytes);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  return out;
}

function code(bytes: Uint8Array): string {
  try {
    parseSafetensors(bytes);
  } catch (error) {
    assert.ok(error instanceof PeftkitError, `expected PeftkitError, got ${String(error)}`);
    return error.code.replace('PEFTKIT_E_SAFETENSORS_', '');
  }
  return 'OK';
}

const t = (name: string, dtype: string, shape: string, begin: number, end: number) =>
  `"${name}":{"dtype":"${dtype}","shape":${shape},"data_offsets":[${begin},${end}]}`;

test('length prefix and header bounds', () => {
  assert.equal(code(new Uint8Array(0)), 'TRUNCATED');
  assert.equal(code(new Uint8Array(7)), 'TRUNCATED');
  assert.equal(code(file('{}', 0, 2n ** 63n)), 'HEADER_TOO_LARGE');
  assert.equal(code(file('{}', 0, 2n ** 53n)), 'HEADER_TOO_LARGE');
  assert.equal(code(file('{}', 0, 2n ** 64n - 1n)), 'HEADER_TOO_LARGE');
  assert.equal(code(file('{}', 0, 100_000_001n)), 'HEADER_TOO_LARGE');
  assert.equal(code(file('{}', 0, 9n)), 'TRUNCATED');
  assert.equal(code(file('{}', 0, 0n)), 'HEADER_JSON');
  assert.equal(code(file('{}', 0)), 'OK');
});

test('header text: UTF-8, JSON, object, nesting depth', () => {
  const bad = file('{"a\u00e9":1}', 0);
  bad[10] = 0xff;
  assert.equal(code(bad), 'HEADER_UTF8');
  assert.equal(code(file(' {}', 0)), 'HEADER_JSON');
  assert.equal(code(file('\ufeff{}', 0)), 'HEADER_JSON');
  assert.equal(code(file('{', 0)), 'HEADER_JSON');
  assert.equal(code(file('{}x', 0)), 'HEADER_JSON');
  for (const value of ['[]', '[1]', '1', '"s"', 'null', 'true'])
    assert.equal(code(file(value, 0)), 'HEADER_JSON', value);
  assert.equal(code(file(`{"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}`, 0)), 'HEADER_JSON');
  assert.equal(code(file(`{"a":${'{"b":'.repeat(10_000)}1${'}'.repeat(10_000)}}`, 0)), 'HEADER_JSON');
  assert.equal(code(file(`{${t('\\ud800', 'U8', '[1]', 0, 1)}}`, 1)), 'HEADER_JSON');
});

test('entries: shape, dtype, fields', () => {
  const one = (entry: string, data = 4) => code(file(`{${entry}}`, data));
  assert.equal(one(t('a', 'F32', '[1]', 0, 4)), 'OK');
  assert.equal(one('"a":[1]'), 'HEADER_ENTRY');
  assert.equal(one('"a":null'), 'HEADER_ENTRY');
  assert.equal(one('"a":{"dtype":"F32","shape":[1]}'), 'HEADER_ENTRY');
  assert.equal(one('"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}'), 'HEADER_ENTRY');
  assert.equal(one(t('a', 'F31', '[1]', 0, 4)), 'DTYPE');
  assert.equal(one('"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}'), 'DTYPE');
  assert.equal(one('"a":{"dtype":"toString","shape":[1],"data_offsets":[0,4]}'), 'DTYPE');
  for (const shape of ['[-1]', '[1.5]', '["1"]', '[null]', '1', '{}', '[9007199254740992]', '[1e400]']) {
    assert.equal(one(t('a', 'F32', shape, 0, 4)), 'HEADER_SHAPE', shape);
  }
  assert.equal(one(t('a', 'F32', '[1099511627776,1099511627776]', 0, 4)), 'SIZE_OVERFLOW');
  assert.equal(one(t('a', 'F64', '[9007199254740991]', 0, 4)), 'SIZE_OVERFLOW');
  assert.equal(one(t('a', 'F32', '[0,9007199254740991]', 0, 0), 0), 'OK');
  assert.equal(one(t('a', 'F32', '[2]', 0, 4)), 'SIZE_MISMATCH');
  assert.equal(one(t('a', 'F16', '[1]', 0, 4)), 'SIZE_MISMATCH');
  assert.equal(one(t('a', 'F32', '[1]', 4, 0)), 'OFFSETS');
  assert.equal(one('"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}'), 'OFFSETS');
  assert.equal(one('"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}'), 'OFFSETS');
  assert.equal(one('"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}'), 'OFFSETS');
  assert.equal(one('"a":{"dtype":"F32","shape":[1],"data_offsets":"0-4"}'), 'OFFSETS');
});

test('data buffer coverage: holes, overlaps, truncation, trailing bytes', () => {
  const two = (a: [number, number], b: [number, number], data: number) =>
    code(file(`{${t('a', 'F32', '[1]', ...a)},${t('b', 'F32', '[1]', ...b)}}`, data));
  assert.equal(two([0, 4], [4, 8], 8), 'OK');
  assert.equal(two([4, 8], [0, 4], 8), 'OK'); // header order does not matter
  assert.equal(two([0, 4], [2, 6], 8), 'OVERLAP');
  assert.equal(two([0, 4], [0, 4], 4), 'OVERLAP');
  assert.equal(two([0, 4], [8, 12], 12), 'COVERAGE');
  assert.equal(two([4, 8], [8, 12], 12), 'COVERAGE');
  assert.equal(two([0, 4], [4, 8], 9), 'COVERAGE');
  assert.equal(two([0, 4], [4, 8], 7), 'TRUNCATED');
  assert.equal(two([0, 4], [2 ** 40, 2 ** 40 + 4], 8), 'COVERAGE');
  assert.equal(code(file('{}', 3)), 'COVERAGE');
  const empties = `{${t('a', 'F32', '[0]', 0, 0)},${t('b', 'U8', '[2]', 0, 2)},${t('c', 'I8', '[0]', 2, 2)}}`;
  assert.equal(code(file(empties, 2)), 'OK');
});

test('duplicates are detected, including escaped spellings and nested objects', () => {
  const a = t('a', 'U8', '[1]', 0, 1);
  assert.equal(code(file(`{${a},${a}}`, 1)), 'DUPLICATE');
  assert.equal(code(file(`{${a},${t('\\u0061', 'U8', '[1]', 0, 1)}}`, 1)), 'DUPLICATE');
  assert.equal(code(file('{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1)), 'DUPLICATE');
  assert.equal(code(file('{"__metadata__":{"k":"1","k":"2"}}', 0)), 'DUPLICATE');
  assert.equal(code(file('{"__metadata__":{},"__metadata__":{}}', 0)), 'DUPLICATE');
  // Same key text in different objects, and as a value, is fine.
  assert.equal(code(file(`{"__metadata__":{"a":"a"},${a}}`, 1)), 'OK');
});

test('__metadata__ must be an object of strings', () => {
  assert.equal(code(file('{"__metadata__":{"k":"v","__proto__":"x"}}', 0)), 'OK');
  const parsed = parseSafetensors(file('{"__metadata__":{"__proto__":"x"}}', 0));
  assert.equal(Object.getPrototypeOf(parsed.metadata), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(parsed.metadata, '__proto__')?.value, 'x');
  for (const meta of ['null', '[]', '"s"', '{"k":1}', '{"k":null}', '{"k":{"a":"b"}}']) {
    assert.equal(code(file(`{"__metadata__":${meta}}`, 0)), 'METADATA', meta);
  }
});
