import { PeftkitError, z } from '@peftkit/core';
import { checkBlockSize, NESTED_BLOCK_SIZE, type NestedAbsmax, type Quantized4, numel } from './blockwise4.ts';
import { codeBook, type QuantType } from './codebooks.ts';
import { pythonJson } from './python-json.ts';

/**
 * bitsandbytes' serialization of a 4-bit weight (`QuantState.as_dict(packed=True)`), under the module's `weight` key:
 *   weight                                  U8  [ceil(n/2), 1]  packed codes
 *   weight.absmax                           F32 [blocks]        (U8 when double-quantized)
 *   weight.quant_map                        F32 [16]
 *   weight.nested_absmax                    F32 [ceil(blocks/256)]   (double quantization only)
 *   weight.nested_quant_map                 F32 [256]                (double quantization only)
 *   weight.quant_state.bitsandbytes__<nf4|fp4>  U8 [len]  json.dumps({quant_type, blocksize, dtype, shape,
 *                                            nested_blocksize, nested_dtype, nested_offset}) as UTF-8 bytes
 */

/** A tensor as safetensors stores it: dtype name, shape and raw little-endian bytes. */
export interface RawTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export const QUANT_STATE_PREFIX = 'quant_state.bitsandbytes__';

function bnbError(message: string, details: Record<string, unknown>): PeftkitError {
  return new PeftkitError('PEFTKIT_E_BNB_FORMAT', message, details);
}

export function f32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}

function f32Values(t: RawTensor, key: string, length: number): Float32Array {
  if (t.dtype !== 'F32' || t.data.byteLength !== 4 * length) {
    throw bnbError(`'${key}' must be F32 with ${length} values, got ${t.dtype} [${t.shape}]`, {
      key,
      dtype: t.dtype,
      shape: t.shape,
    });
  }
  return new Float32Array(t.data.slice().buffer);
}

function u8Values(t: RawTensor, key: string, length: number): Uint8Array {
  if (t.dtype !== 'U8' || t.data.byteLength !== length) {
    throw bnbError(`'${key}' must be U8 with ${length} bytes, got ${t.dtype} [${t.shape}]`, {
      key,
      dtype: t.dtype,
      shape: t.shape,
    });
  }
  return t.data.slice();
}

const QuantStateJson = z.object({
  quant_type: z.enum(['nf4', 'fp4']),
  blocksize: z.number().int(),
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative()).min(1),
  nested_blocksize: z.number().int().optional(),
  nested_dtype: z.string().optional(),
  nested_offset: z.number().optional(),
});

/** The bnb keys of one weight (`<module>.weight` and its companions). */
export function bnbKeys(weightKey: string, quantType: QuantType, nested: boolean): string[] {
  const keys = [
    weightKey,
    `${weightKey}.absmax`,
    `${weightKey}.quant_map`,
    `${weightKey}.${QUANT_STATE_PREFIX}${quantType}`,
  ];
  return nested ? [...keys, `${weightKey}.nested_absmax`, `${weightKey}.nested_quant_map`] : keys;
}

/** Writes a quantized weight the way bitsandbytes serializes it. `dtype` is the torch dtype the weight had. */
export function toBnbTensors(weightKey: string, q: Quantized4, dtype = 'float32'): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  out.set(weightKey, { dtype: 'U8', shape: [q.packed.length, 1], data: q.packed });
  out.set(`${weightKey}.quant_map`, { dtype: 'F32', shape: [16], data: f32Bytes(q.code) });
  const state: Record<string, Parameters<typeof pythonJson>[0]> = {
    quant_type: q.quantType,
    blocksize: { int: q.blockSize },
    dtype,
    shape: q.shape.map((d) => ({ int: d })),
  };
  if (q.absmax instanceof Float32Array) {
    out.set(`${weightKey}.absmax`, { dtype: 'F32', shape: [q.absmax.length], data: f32Bytes(q.absmax) });
  } else {
    const nested = q.absmax;
    out.set(`${weightKey}.absmax`, { dtype: 'U8', shape: [nested.codes.length], data: nested.codes });
    out.set(`${weightKey}.nested_absmax`, {
      dtype: 'F32',
      shape: [nested.absmax.length],
      data: f32Bytes(nested.absmax),
    });
    out.set(`${weightKey}.nested_quant_map`, {
      dtype: 'F32',
      shape: [nested.code.length],
      data: f32Bytes(nested.code),
    });
    Object.assign(state, {
      nested_blocksize: { int: nested.blockSize },
      nested_dtype: 'float32',
      nested_offset: nested.offset,
    });
  }
  const json = new TextEncoder().encode(pythonJson(state));
  out.set(`${weightKey}.${QUANT_STATE_PREFIX}${q.quantType}`, { dtype: 'U8', shape: [json.length], data: json });
  return out;
}

/** The quant_state key of a weight, if the checkpoint holds one (tells a bnb 4-bit weight from a plain one). */
export function findQuantStateKey(weightKey: string, has: (key: string) => boolean): string | undefined {
  return ['nf4', 'fp4'].map((t) => `${weightKey}.${QUANT_STATE_PREFIX}${t}`).find(has);
}

/**
 * Reads one bnb 4-bit weight. Every size is checked against the quant_state; the 16-entry quant_map must be the code
 * book of the quant_type (requantizing relies on bnb's pivots); the nested map is used as stored.
 * Returns the state and the torch dtype the weight had.
 */
export function fromBnbTensors(
  weightKey: string,
  get: (key: string) => RawTensor | undefined,
): { state: Quantized4; dtype: string } {
  const need = (key: string): RawTensor => {
    const t = get(key);
    if (t === undefined)
      throw new PeftkitError('PEFTKIT_E_BNB_KEY_MISSING', `bitsandbytes weight lacks '${key}'`, { key });
    return t;
  };
  const stateKey = findQuantStateKey(weightKey, (k) => get(k) !== undefined);
  if (stateKey === undefined)
    throw new PeftkitError(
      'PEFTKIT_E_BNB_KEY_MISSING',
      `bitsandbytes weight lacks '${weightKey}.${QUANT_STATE_PREFIX}nf4|fp4'`,
      { key: weightKey },
    );
  let parsedJson: unknown;
  try {
    parsedJson = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(need(stateKey).data));
  } catch (cause) {
    throw new PeftkitError(
      'PEFTKIT_E_BNB_FORMAT',
      `'${stateKey}' does not hold UTF-8 JSON`,
      { key: stateKey },
      { cause },
    );
  }
  const parsed = QuantStateJson.safeParse(parsedJson);
  if (!parsed.success)
    throw bnbError(`'${stateKey}': ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, {
      key: stateKey,
    });
  const info = parsed.data;
  if (!stateKey.endsWith(info.quant_type))
    throw bnbError(`'${stateKey}' says quant_type '${info.quant_type}'`, { key: stateKey });
  checkBlockSize(info.blocksize);
  const n = numel(info.shape);
  const blocks = Math.ceil(n / info.blocksize);
  const weight = need(weightKey);
  const packed = u8Values(weight, weightKey, Math.ceil(n / 2));
  const code = f32Values(need(`${weightKey}.quant_map`), `${weightKey}.quant_map`, 16);
  const expected = codeBook(info.quant_type);
  if (code.some((v, i) => Math.abs(v - (expected[i] as number)) > 1e-6)) {
    throw bnbError(`'${weightKey}.quant_map' is not bitsandbytes' ${info.quant_type} code book`, {
      key: `${weightKey}.quant_map`,
    });
  }
  const absmaxTensor = need(`${weightKey}.absmax`);
  let absmax: Float32Array | NestedAbsmax;
  if (info.nested_offset === undefined) {
    absmax = f32Values(absmaxTensor, `${weightKey}.absmax`, blocks);
  } else {
    const nestedBlock = info.nested_blocksize ?? NESTED_BLOCK_SIZE;
    checkBlockSize(nestedBlock);
    absmax = {
      codes: u8Values(absmaxTensor, `${weightKey}.absmax`, blocks),
      absmax: f32Values(
        need(`${weightKey}.nested_absmax`),
        `${weightKey}.nested_absmax`,
        Math.ceil(blocks / nestedBlock),
      ),
      code: f32Values(need(`${weightKey}.nested_quant_map`), `${weightKey}.nested_quant_map`, 256),
      blockSize: nestedBlock,
      offset: info.nested_offset,
    };
  }
  return {
    state: { quantType: info.quant_type, blockSize: info.blocksize, shape: info.shape, packed, code: expected, absmax },
    dtype: info.dtype,
  };
}
