export type { DecodeOptions, EncodeOptions, Tokenizer } from '@peftkit/core';
export { HfTokenizer } from './hf.ts';
export { type Llama2cStreamDecoder, Llama2cTokenizer } from './llama2c.ts';
export {
  type Llama2cVocab,
  type ParseLlama2cTokenizerOptions,
  parseLlama2cTokenizer,
  serializeLlama2cTokenizer,
} from './llama2c-file.ts';
export {
  type HfAddedToken,
  type HfTokenizerJson,
  llama2cHfTokenizerConfig,
  llama2cToHfTokenizerJson,
} from './llama2c-hf.ts';
export {
  HF_TOKENIZER_CONFIG_FILE,
  HF_TOKENIZER_FILE,
  LLAMA2C_TOKENIZER_FILE,
  type LoadTokenizerOptions,
  loadTokenizer,
} from './load.ts';
