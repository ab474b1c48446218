/**
 * @peftkit/qlora — QLoRA: a 4-bit (NF4/FP4, bitsandbytes-exact) frozen base with LoRA (from @peftkit/lora) on top.
 */
export {
  checkBlockSize,
  dequantize4,
  NESTED_BLOCK_SIZE,
  type NestedAbsmax,
  type Quantize4Options,
  type Quantized4,
  quantize4,
  quantizedBytes,
  restoreAbsmax,
} from './blockwise4.ts';
export { type Blockwise8, dequantizeBlockwise8, quantizeBlockwise8, quantizeCode8 } from './blockwise8.ts';
export {
  codeBook,
  createDynamicMap,
  DYNAMIC_MAP,
  FP4_CODE,
  fp4Index,
  NF4_CODE,
  nf4Index,
  type QuantType,
} from './codebooks.ts';
export { QuantizedLinearBase } from './quantized-linear.ts';
export {
  type QuantizeModelOptions,
  type QuantizeModelReport,
  quantizedLinearBases,
  quantizeModel,
} from './quantize-model.ts';
export {
  QLORA_CONFIG_KEY,
  type QloraConfig,
  QloraConfigSchema,
  type Quantization,
  QuantizationSchema,
} from './config.ts';
export type { QloraHandle } from './handle.ts';
export { PLUGIN_VERSION, default, default as qlora } from './plugin.ts';
export {
  bnbKeys,
  findQuantStateKey,
  fromBnbTensors,
  QUANT_STATE_PREFIX,
  type RawTensor,
  toBnbTensors,
} from './bnb-format.ts';
export { type BnbConvertOptions, type BnbConvertResult, type BnbTarget, convertBnbCheckpoint } from './bnb-convert.ts';
export { pythonFloat, pythonJson } from './python-json.ts';
export { PagedAdamW, type PagedAdamWSettings, type PagingOptions, pagedAdamW } from './paged-adamw.ts';
