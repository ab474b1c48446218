/**
 * safetensors: public entry point (strict parser, decoder, writer, atomic files, sharded checkpoints).
 * Error codes are documented in safetensors-types.ts.
 */
export { parseSafetensors } from './safetensors-parse.ts';
export {
  DTYPE_SIZES,
  MAX_HEADER_BYTES,
  SAFETENSORS_ERROR_CODES,
  type SafetensorsDtype,
  type SafetensorsErrorCode,
  type SafetensorsFile,
  type SafetensorsTensor,
} from './safetensors-types.ts';
export { type DecodedTensor, decodeTensor, rawBytes } from './safetensors-decode.ts';
export {
  type TensorToWrite,
  type TensorsToWrite,
  type WritableDtype,
  serializeSafetensors,
} from './safetensors-encode.ts';
export { readSafetensorsFile, writeSafetensorsFile } from './safetensors-files.ts';
export {
  type ModelWeights,
  type ShardedSafetensors,
  type ShardedWriteOptions,
  readModelWeights,
  readShardedSafetensors,
  writeShardedSafetensors,
} from './safetensors-sharded.ts';
