/**
 * @peftkit/models — model architectures behind core's model-graph seam (Llama family, GPT-2, BERT), their
 * checkpoint I/O (Hugging Face layouts, safetensors), tokenizers and converters, Hub downloads and generation.
 */
export { LlamaModel, type LlamaOptions } from './model/llama.ts';
export { type LlamaConfig, parseLlamaConfig } from './model/llama-config.ts';
export { Gpt2Model, type Gpt2Options } from './model/gpt2.ts';
export { type Gpt2Config, parseGpt2Config } from './model/gpt2-config.ts';
export { BertModel, type BertOptions } from './model/bert.ts';
export { type BertConfig, parseBertConfig } from './model/bert-config.ts';
export {
  ARCHITECTURES,
  loadModel,
  type ArchitectureEntry,
  type LoadModelOptions,
  type LoadedModel,
  type LoadedModelGraph,
  type NewTensor,
} from './model/load.ts';
export { modelTensors, saveModel, type SaveModelOptions } from './model/save.ts';
export * from './hub/index.ts';
export * from './tokenizers/index.ts';
export {
  GPT2_END_OF_TEXT,
  gpt2TokenizerConfig,
  gpt2TokenizerJson,
  type Gpt2TokenizerJson,
} from './tokenizers/gpt2-bpe.ts';
export { writeGpt2TokenizerFiles, type WriteGpt2TokenizerOptions } from './tokenizers/gpt2-bpe-files.ts';
export * from './generate/generate.ts';
export * from './generate/sampling.ts';
export * from './convert/llama2c.ts';
export * from './convert/llama2c-files.ts';
export * from './convert/llama2c-hf.ts';
export * from './tokenizers/bpe-train.ts';
