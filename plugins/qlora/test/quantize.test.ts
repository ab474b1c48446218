import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import {
  DYNAMIC_MAP,
  dequantize4,
  dequantizeBlockwise8,
  FP4_CODE,
  NF4_CODE,
  quantize4,
  quantizeBlockwise8,
  quantizedBytes,
  restoreAbsmax,
} from '@peftkit/qlora';

const f = Math.fround;

/** Reference from the code-book definition: nearest code in float64 distance, the lower index on a tie. */
function nearest(code: Float32Array, scaled: number): number {
  let best = 0;
  for (let i = 1; i < code.length; i++)
    if (Math.abs(scaled - (code[i] as number)) < Math.abs(scaled - (code[best] as number))) best = i;
  return best;
}

/** FP4 keeps the sign bit for negative values (−0 is code 8): nearest among the codes of the value's sign. */
function nearestFp4(scaled: number): number {
  const half = scaled < 0 ? 8 : 0;
  return half + nearest(FP4_CODE.subarray(half, half + 8), scaled);
}

/** Independent packing: absmax per block, x·(1/absmax) in float32, nearest code, element 2k high nibble. */
function referencePack(values: Float32Array, code: Float32Array, blockSize: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let start = 0; start < values.length; start += blockSize) {
    const block = values.subarray(start, start + blockSize);
    const absmax = block.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    block.forEach((v, j) => {
      const scaled = Math.min(1, Math.max(-1, f(v * f(1 / absmax))));
      const q = code === FP4_CODE ? nearestFp4(scaled) : nearest(code, scaled);
      const i = start + j;
      out[i >> 1] = (out[i >> 1] as number) | (i % 2 === 0 ? q << 4 : q);
    });
  }
  return out;
}

test('NF4: hand-derived codes, packing order and midpoint ties', () => {
  // Block absmax 2: scaled = x/2. Codes: -1 → 0, 0 → 7, 1 → 15, 0.16093 → 9,
  // exact midpoint of codes 7 and 8 → 7 (lower).
  const mid78 = f((0 + (NF4_CODE[8] as number)) / 2);
  const values = Float32Array.from([-2, 0, 2, 2 * (NF4_CODE[9] as number), 2 * mid78, 2 * f(mid78 + 1e-6)]);
  const q = quantize4(values, [6], { quantType: 'nf4', blockSize: 64, doubleQuant: false });
  assert.deepEqual([...q.packed], [0x07, 0xf9, 0x78], 'codes 0,7 | 15,9 | 7,8 with element 2k in the high nibble');
  assert.deepEqual([...(q.absmax as Float32Array)], [2], 'absmax of the block');
  const back = dequantize4(q);
  assert.deepEqual(
    [...back].slice(0, 4),
    [-2, 0, 2, f(2 * (NF4_CODE[9] as number))],
    'codes that are exact come back exactly',
  );
});

test('FP4: hand-derived codes (sign bit, magnitude order 0, 1/192, 8/12, 1, 1/3, 1/2, 1/6, 1/4)', () => {
  assert.ok(
    Math.abs((FP4_CODE[1] as number) - 0.0052083) < 1e-6 &&
      FP4_CODE[3] === 1 &&
      Math.abs((FP4_CODE[2] as number) - 2 / 3) < 1e-7,
    'FP4 magnitudes',
  );
  // absmax 12: scaled = x/12, so x = 12·code gives exactly that code; -3 → sign | 0b111.
  const values = Float32Array.from([12, 4, -3, 0.0625, 6, -12, 0, 2]);
  const q = quantize4(values, [2, 4], { quantType: 'fp4', blockSize: 64, doubleQuant: false });
  assert.deepEqual([...q.packed], [0x34, 0xf1, 0x5b, 0x06], 'FP4 codes 3,4 | 15,1 | 5,11 | 0,6');
  assert.deepEqual([...dequantize4(q)], [...values], 'values on the code book come back exactly');
});

test('packed bytes of a fixed-seed matrix equal the code-book reference (NF4 and FP4, several block sizes)', () => {
  const values = new Rng(7).normalArray(64 * 48 + 10, 0, 0.05);
  for (const [quantType, code] of [
    ['nf4', NF4_CODE],
    ['fp4', FP4_CODE],
  ] as const) {
    for (const blockSize of [32, 64, 256]) {
      const q = quantize4(values, [values.length], { quantType, blockSize, doubleQuant: false });
      assert.deepEqual(q.packed, referencePack(values, code, blockSize), `${quantType} block ${blockSize}`);
    }
  }
});

test('per-block dequantization error stays within half the widest code gap times the block absmax', () => {
  const rng = new Rng(3);
  const values = rng.normalArray(64 * 200, 0, 1);
  for (const [quantType, code] of [
    ['nf4', NF4_CODE],
    ['fp4', FP4_CODE],
  ] as const) {
    const sorted = [...code].sort((a, b) => a - b);
    const halfGap = Math.max(...sorted.slice(1).map((v, i) => (v - (sorted[i] as number)) / 2));
    const q = quantize4(values, [values.length], { quantType, blockSize: 64, doubleQuant: false });
    const back = dequantize4(q);
    const absmax = q.absmax as Float32Array;
    let worst = 0;
    for (let i = 0; i < values.length; i++)
      worst = Math.max(worst, Math.abs((back[i] as number) - (values[i] as number)) / (absmax[i >> 6] as number));
    assert.ok(worst <= halfGap * (1 + 1e-5), `${quantType}: worst relative error ${worst} ≤ ${halfGap}`);
    assert.ok(worst > halfGap * 0.5, `${quantType}: the bound is not vacuous (${worst})`);
  }
});

test('storage: 4.5 bits/param without double quantization, 4.127 with it', () => {
  const n = 64 * 256 * 4;
  const values = new Rng(1).normalArray(n, 0, 1);
  const plain = quantize4(values, [n], { quantType: 'nf4', blockSize: 64, doubleQuant: false });
  const dq = quantize4(values, [n], { quantType: 'nf4', blockSize: 64, doubleQuant: true });
  assert.equal((quantizedBytes(plain) * 8) / n, 4 + 32 / 64, 'no DQ');
  const bits = ((quantizedBytes(dq) - 4) * 8) / n; // 4 bytes: the float32 offset, constant per tensor
  assert.ok(Math.abs(bits - (4 + 8 / 64 + 32 / (64 * 256))) < 1e-12, `DQ bits/param ${bits}`);
});

test('double quantization: offset is the mean, restored scales are close, and dequantization uses them', () => {
  const values = new Rng(9).normalArray(64 * 600, 0, 1);
  const dq = quantize4(values, [values.length], { quantType: 'nf4', blockSize: 64, doubleQuant: true });
  const plain = quantize4(values, [values.length], { quantType: 'nf4', blockSize: 64, doubleQuant: false });
  assert.ok(!(dq.absmax instanceof Float32Array), 'nested absmax');
  if (dq.absmax instanceof Float32Array) return;
  const exact = plain.absmax as Float32Array;
  const mean = exact.reduce((a, b) => a + b, 0) / exact.length;
  assert.equal(dq.absmax.offset, f(mean), 'offset = mean(absmax)');
  assert.equal(dq.absmax.absmax.length, Math.ceil(600 / 256), 'one nested scale per 256 blocks');
  const restored = restoreAbsmax(dq.absmax);
  // The signed dynamic map's widest half-gap is 0.9/64/2 ≈ 0.00704 of the nested absmax (its top decade).
  for (let i = 0; i < exact.length; i++) {
    const bound = 0.00704 * (dq.absmax.absmax[i >> 8] as number) * (1 + 1e-4);
    assert.ok(Math.abs((restored[i] as number) - (exact[i] as number)) <= bound, `scale ${i} within ${bound}`);
  }
  const back = dequantize4(dq);
  assert.equal(
    back[5],
    f((NF4_CODE[(dq.packed[2] as number) & 15] as number) * (restored[0] as number)),
    'code × restored absmax',
  );
});

test('signed dynamic map: 256 sorted values from create_dynamic_map(signed=True)', () => {
  assert.equal(DYNAMIC_MAP.length, 256, 'size');
  for (let i = 1; i < 256; i++)
    assert.ok((DYNAMIC_MAP[i] as number) >= (DYNAMIC_MAP[i - 1] as number), `sorted at ${i}`);
  assert.equal(DYNAMIC_MAP[255], 1, 'max is 1');
  assert.ok(DYNAMIC_MAP.includes(0), 'contains 0');
  // Exponent 0: one mean of linspace(0.1, 1, 2) = 0.55, times 1e-6; the top: mean
  // of the last two of linspace(0.1, 1, 65).
  const smallest = f(f(1e-6) * f(f(f(0.1) + 1) / 2));
  assert.ok(DYNAMIC_MAP.includes(smallest) && DYNAMIC_MAP.includes(-smallest), `smallest magnitude ±${smallest}`);
  assert.equal(DYNAMIC_MAP[128], smallest, 'right above the zero at index 127');
  assert.ok(Math.abs((DYNAMIC_MAP[0] as number) + (1 - 0.9 / 128)) < 1e-6, `min ${DYNAMIC_MAP[0]} ≈ −0.99296875`);
  assert.equal(DYNAMIC_MAP.filter((v) => v > 0.1 && v < 1).length, 64, '64 values in the top decade');
});

test('8-bit blockwise: table values quantize to themselves, others to a bracketing code', () => {
  const exact = quantizeBlockwise8(Float32Array.from(DYNAMIC_MAP), 256);
  assert.deepEqual([...dequantizeBlockwise8(exact)], [...DYNAMIC_MAP], 'the table round-trips exactly (absmax 1)');
  const values = new Rng(4).uniformArray(1000, -3, 3);
  const q = quantizeBlockwise8(values, 256);
  const back = dequantizeBlockwise8(q);
  for (let i = 0; i < values.length; i++) {
    const s = (values[i] as number) / (q.absmax[i >> 8] as number);
    const c = q.codes[i] as number;
    const lo = c === 0 ? -1 : (DYNAMIC_MAP[c - 1] as number); // below the smallest code (−0.99297) everything maps to 0
    const hi = DYNAMIC_MAP[Math.min(255, c + 1)] as number;
    assert.ok(s >= lo - 1e-6 && s <= hi + 1e-6, `value ${i} lands next to its code`);
    assert.ok(
      Math.abs((back[i] as number) - (values[i] as number)) <= 0.00704 * (q.absmax[i >> 8] as number) * (1 + 1e-4),
      `value ${i} error`,
    );
  }
});

test('bad block sizes are coded errors', () => {
  for (const blockSize of [16, 48, 8192, 63.5]) {
    assert.throws(
      () => quantize4(new Float32Array(64), [64], { quantType: 'nf4', blockSize, doubleQuant: false }),
      (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_QLORA_BLOCK_SIZE',
      `block size ${blockSize}`,
    );
  }
});

test('odd lengths and partial blocks: the last low nibble stays 0 and values round-trip within the bound', () => {
  const values = new Rng(12).normalArray(65, 0, 1);
  const q = quantize4(values, [5, 13], { quantType: 'nf4', blockSize: 64, doubleQuant: true });
  assert.equal(q.packed.length, 33, 'ceil(65 / 2) bytes');
  assert.equal((q.packed[32] as number) & 15, 0, 'low nibble of the last byte unused');
  const back = dequantize4(q);
  const restored = restoreAbsmax(q.absmax);
  assert.equal(restored.length, 2, 'a full block and a one-element block');
  assert.equal(Math.abs(back[64] as number), restored[1], 'a one-element block is its own absmax (code ±1)');
  for (let i = 0; i < 64; i++)
    assert.ok(
      Math.abs((back[i] as number) - (values[i] as number)) <= 0.16 * (restored[0] as number) + 1e-6,
      `value ${i}`,
    );
});
