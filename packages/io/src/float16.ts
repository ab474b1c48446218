/**
 * Bit-level conversions between float32 and the 16- and 8-bit float formats.
 * Narrowing rounds to nearest, ties to even; NaN stays NaN (quiet, sign and top payload kept).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32Bits(value: number): number {
  f32[0] = value;
  return u32[0] as number;
}

export function float32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0] as number;
}

/** IEEE binary16 bits of the float32 with the given bits. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  // 65520 is the tie between 65504 (odd mantissa) and 2^16: it and everything above round to inf.
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    // Subnormal or zero in binary16: the result is round(|x| / 2^-24); 1024 is the smallest normal.
    const scaled = float32FromBits(abs) * 16777216;
    let q = Math.floor(scaled);
    const frac = scaled - q;
    if (frac > 0.5 || (frac === 0.5 && (q & 1) === 1)) q++;
    return sign | q;
  }
  let half = ((((abs >>> 23) - 112) << 10) | ((abs >>> 13) & 0x3ff)) >>> 0;
  const rest = abs & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent.
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** bfloat16 bits of the float32 with the given bits. */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x0040) & 0xffff;
  const lsb = (x >>> 16) & 1;
  return Math.floor(((x >>> 0) + 0x7fff + lsb) / 65536) & 0xffff;
}

let f16Table: Uint32Array | undefined;

/** float32 bits for every binary16 pattern, built on first use (256 KiB). */
export function f16ToF32Table(): Uint32Array {
  if (f16Table) return f16Table;
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      table[h] = (sign | float32Bits(mant * 2 ** -24)) >>> 0;
    } else if (exp === 31) {
      table[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0;
    } else {
      table[h] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
    }
  }
  f16Table = table;
  return table;
}

export function f16BitsToFloat32(h: number): number {
  return float32FromBits(f16ToF32Table()[h & 0xffff] as number);
}

let e4m3Table: Float32Array | undefined;

/** OCP FP8 E4M3 (the "fn" variant): bias 7, no infinities, S.1111.111 is NaN. */
export function e4m3ToF32Table(): Float32Array {
  if (e4m3Table) return e4m3Table;
  const table = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1;
    const exp = (b >>> 3) & 0xf;
    const mant = b & 0x7;
    if (exp === 15 && mant === 7) table[b] = Number.NaN;
    else if (exp === 0) table[b] = sign * mant * 2 ** -9;
    else table[b] = sign * (1 + mant / 8) * 2 ** (exp - 7);
  }
  e4m3Table = table;
  return table;
}
