/**
 * bitsandbytes' code books. NF4 and FP4 are the 16-entry tables of `get_4bit_type` (values as float32, FP4 already
 * divided by its absmax 12); the 8-bit signed dynamic map is generated here from `create_dynamic_map`'s construction.
 */

/** NF4 (code = index, ascending), bitsandbytes `get_4bit_type('nf4')`. */
export const NF4_CODE: Float32Array = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/**
 * FP4 (sign bit 3, two exponent bits, one mantissa bit), bitsandbytes `get_4bit_type('fp4')`:
 * [0, 1/16, 8, 12, 4, 6, 2, 3]/12, then negated.
 */
export const FP4_CODE: Float32Array = Float32Array.from(
  [0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4, -6, -2, -3].map((v) => v / 12),
);

export type QuantType = 'nf4' | 'fp4';

export function codeBook(quantType: QuantType): Float32Array {
  return quantType === 'nf4' ? NF4_CODE : FP4_CODE;
}

/**
 * NF4 decision pivots of bnb's CUDA `dQuantizeNF4`: the float32 midpoints of adjacent codes, computed in double and
 * rounded once. A value goes to the upper code only when strictly greater than the pivot, so exact midpoints round
 * down.
 */
const NF4_PIVOTS: Float64Array = Float64Array.from({ length: 15 }, (_, i) =>
  Math.fround(((NF4_CODE[i] as number) + (NF4_CODE[i + 1] as number)) / 2),
);

/**
 * FP4 magnitude pivots of bnb's `dQuantizeFP4` (float32 literals there),
 * ascending, with the code each interval maps to.
 */
const FP4_PIVOTS: Float64Array = Float64Array.from(
  [0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333].map(Math.fround),
);
/** Magnitude codes in ascending order of value: 0, 1/192, 1/6, 1/4, 1/3, 1/2, 2/3, 1. */
const FP4_ORDER = [0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011] as const;

/**
 * NF4 code of an already scaled float32 value. NaN (an all-zero block: 0·∞ in bnb) falls through to code 0, as in CUDA.
 */
export function nf4Index(x: number): number {
  // Binary search over the 15 pivots: the first pivot x does not exceed is the code.
  let lo = 0;
  let hi = 15;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x > (NF4_PIVOTS[mid] as number)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** FP4 code of an already scaled float32 value: sign bit for x < 0, then the magnitude interval (upper only when >). */
export function fp4Index(x: number): number {
  const sign = x < 0 ? 0b1000 : 0;
  const a = Math.abs(x);
  let k = 0;
  while (k < 7 && a > (FP4_PIVOTS[k] as number)) k++;
  return sign + (FP4_ORDER[k] as number);
}

/** torch.linspace(start, end, steps, dtype=float32) on CPU: float32 step, halves computed from each end. */
function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const f = Math.fround;
  const s = f(start);
  const e = f(end);
  const step = f(f(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  return Float32Array.from({ length: steps }, (_, i) =>
    i < half ? f(s + f(step * i)) : f(e - f(step * (steps - i - 1))),
  );
}

/**
 * bitsandbytes `create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)`: for exponent i = 0..6, the
 * midpoints of linspace(0.1, 1, 2^i + 1) scaled by 10^(i−6), with both signs; plus 0 and 1; sorted (256 values).
 * Arithmetic in float32 as torch does it.
 */
export function createDynamicMap(): Float32Array {
  const f = Math.fround;
  const data: number[] = [];
  for (let i = 0; i < 7; i++) {
    const boundaries = linspaceF32(0.1, 1, 2 ** i + 1);
    const scale = f(10 ** (i - 6));
    for (let k = 0; k + 1 < boundaries.length; k++) {
      const mean = f(f((boundaries[k] as number) + (boundaries[k + 1] as number)) / 2);
      data.push(f(scale * mean), f(-scale * mean));
    }
  }
  data.push(0, 1);
  data.sort((a, b) => a - b);
  return Float32Array.from(data);
}

/** The signed dynamic map, built once. */
export const DYNAMIC_MAP: Float32Array = createDynamicMap();
