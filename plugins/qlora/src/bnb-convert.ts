import { PeftkitError } from '@peftkit/core';
import { dequantize4, quantize4 } from './blockwise4.ts';
import { f32Bytes, findQuantStateKey, fromBnbTensors, type RawTensor, toBnbTensors } from './bnb-format.ts';
import type { QuantType } from './codebooks.ts';

/**
 * Whole-checkpoint conversion between float weights and bitsandbytes 4-bit serialization (what `peftkit convert bnb`
 * runs on a model directory's tensors and config.json; file I/O stays in the CLI).
 */

export type BnbTarget = 'float' | QuantType;

export interface BnbConvertOptions {
  readonly to: BnbTarget;
  readonly doubleQuant?: boolean;
  readonly blockSize?: number;
}

export interface BnbConvertResult {
  readonly tensors: Map<string, RawTensor>;
  readonly config: Record<string, unknown>;
  /** Weight keys dequantized from bnb and quantized to bnb by this conversion. */
  readonly dequantized: string[];
  readonly quantized: string[];
}

/** transformers keeps the output head and embeddings in float (llm_int8_skip_modules); norms are 1-D anyway. */
const KEEP_FLOAT_MODULES = [
  'lm_head',
  'embed_tokens',
  'wte',
  'wpe',
  'word_embeddings',
  'position_embeddings',
  'token_type_embeddings',
  'score',
  'classifier',
];
const KEEP_FLOAT = new RegExp(`(^|\\.)(${KEEP_FLOAT_MODULES.join('|')})\\.weight$`);

const TORCH_DTYPE: Readonly<Record<string, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

function floatValues(t: RawTensor, key: string): Float32Array {
  const n = t.data.byteLength;
  if (t.dtype === 'F32') return new Float32Array(t.data.slice().buffer);
  const half = new Uint16Array(t.data.slice().buffer, 0, n / 2);
  const out = new Float32Array(half.length);
  const bits = new Uint32Array(out.buffer);
  if (t.dtype === 'BF16') {
    for (let i = 0; i < half.length; i++) bits[i] = (half[i] as number) << 16;
    return out;
  }
  if (t.dtype !== 'F16')
    throw new PeftkitError('PEFTKIT_E_BNB_FORMAT', `'${key}' is ${t.dtype}, not a float weight`, {
      key,
      dtype: t.dtype,
    });
  for (let i = 0; i < half.length; i++) {
    const h = half[i] as number;
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = (sign ? -1 : 1) * frac * 2 ** -24;
    else if (exp === 31) bits[i] = sign | 0x7f800000 | (frac << 13);
    else bits[i] = sign | ((exp + 112) << 23) | (frac << 13);
  }
  return out;
}

function isBnbCompanion(key: string): boolean {
  return /\.weight\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\.bitsandbytes__\w+)$/.test(key);
}

/** Converts a checkpoint's tensors (and config.json's quantization_config) to float or to bnb NF4/FP4. */
export function convertBnbCheckpoint(
  tensors: ReadonlyMap<string, RawTensor>,
  config: Readonly<Record<string, unknown>>,
  options: BnbConvertOptions,
): BnbConvertResult {
  if (config.model_type === 'gpt2') {
    throw new PeftkitError(
      'PEFTKIT_E_BNB_UNSUPPORTED',
      'bnb conversion handles torch Linear [out, in] weights; GPT-2 Conv1D checkpoints are not supported',
      {
        model_type: config.model_type,
      },
    );
  }
  const floats = new Map<string, RawTensor>();
  const dequantized: string[] = [];
  for (const [key, t] of tensors) {
    if (isBnbCompanion(key)) continue;
    if (key.endsWith('.weight') && findQuantStateKey(key, (k) => tensors.has(k)) !== undefined) {
      const { state } = fromBnbTensors(key, (k) => tensors.get(k));
      floats.set(key, { dtype: 'F32', shape: [...state.shape], data: f32Bytes(dequantize4(state)) });
      dequantized.push(key);
    } else floats.set(key, t);
  }
  const { quantization_config: _old, ...rest } = config;
  if (options.to === 'float') return { tensors: floats, config: rest, dequantized, quantized: [] };

  const doubleQuant = options.doubleQuant ?? true;
  const blockSize = options.blockSize ?? 64;
  const out = new Map<string, RawTensor>();
  const quantized: string[] = [];
  for (const [key, t] of floats) {
    if (!key.endsWith('.weight') || t.shape.length !== 2 || KEEP_FLOAT.test(key) || !(t.dtype in TORCH_DTYPE)) {
      out.set(key, t);
      continue;
    }
    const q = quantize4(floatValues(t, key), t.shape, { quantType: options.to, blockSize, doubleQuant });
    for (const [k, v] of toBnbTensors(key, q, TORCH_DTYPE[t.dtype])) out.set(k, v);
    quantized.push(key);
  }
  const quantizationConfig = {
    quant_method: 'bitsandbytes',
    load_in_4bit: true,
    load_in_8bit: false,
    bnb_4bit_quant_type: options.to,
    bnb_4bit_use_double_quant: doubleQuant,
    bnb_4bit_compute_dtype: 'float32',
    bnb_4bit_quant_storage: 'uint8',
    llm_int8_skip_modules: null,
  };
  return { tensors: out, config: { ...rest, quantization_config: quantizationConfig }, dequantized, quantized };
}
