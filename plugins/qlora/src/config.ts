import { z } from '@peftkit/core';
import { LoraConfigSchema } from '@peftkit/lora';
import type { Quantize4Options } from './blockwise4.ts';

/** The quantization fields, as the config takes them and as a saved adapter carries them under QLORA_CONFIG_KEY. */
export const QuantizationFields = {
  /** bitsandbytes `bnb_4bit_quant_type`. */
  quant_type: z.enum(['nf4', 'fp4']).default('nf4'),
  /** bitsandbytes `bnb_4bit_use_double_quant`. */
  double_quant: z.boolean().default(true),
  block_size: z
    .number()
    .int()
    .min(32)
    .max(4096)
    .refine((n) => (n & (n - 1)) === 0, 'block_size must be a power of two')
    .default(64),
  /** Matmuls run in float32 (tfjs' only float type); accepted for bnb_4bit_compute_dtype compatibility. */
  compute_dtype: z.literal('float32').default('float32'),
};

export const QuantizationSchema = z.strictObject(QuantizationFields);
export type Quantization = z.infer<typeof QuantizationSchema>;

/** LoRA's config (strict, same defaults and refinements) plus the quantization of the base. */
export const QloraConfigSchema = LoraConfigSchema.safeExtend(QuantizationFields);
export type QloraConfig = z.infer<typeof QloraConfigSchema>;

/** The adapter_config.json key that marks a QLoRA adapter (PEFT ignores unknown keys with a warning). */
export const QLORA_CONFIG_KEY = 'peftkit_qlora';

export function quantizeOptions(q: Quantization): Quantize4Options {
  return { quantType: q.quant_type, doubleQuant: q.double_quant, blockSize: q.block_size };
}

/** Splits a QLoRA config into LoRA's part and the quantization. */
export function splitConfig(config: QloraConfig): {
  lora: z.infer<typeof LoraConfigSchema>;
  quantization: Quantization;
} {
  const { quant_type, double_quant, block_size, compute_dtype, ...lora } = config;
  return { lora, quantization: { quant_type, double_quant, block_size, compute_dtype } };
}
