/** @peftkit/core public API. Plugins import only from here (and `@peftkit/core/testing` in their tests). */
export { z } from 'zod';
export { PeftkitError, isPeftkitError } from './errors.ts';
export { createKernel, type Kernel, type KernelOptions } from './kernel.ts';
export { Scope } from './di/scope.ts';
export { TOKENS, token, type Token, type KernelSettings } from './di/tokens.ts';
export {
  PLUGIN_API_VERSION,
  HOOK_NAMES,
  definePlugin,
  type ConfigSchema,
  type HookName,
  type Logger,
  type MergeOptions,
  type MethodContext,
  type MethodHandle,
  type MethodPlugin,
  type PluginCapabilities,
  type PluginFamily,
  type PluginMeta,
  type SavedAdapter,
} from './plugin/contract.ts';
export { PluginRegistry } from './plugin/registry.ts';
export { parseConfig, validatePluginObject } from './plugin/validate.ts';
export { applyWeightUpdates, type WeightUpdate } from './plugin/merge-helpers.ts';
export { AdapterManager, assertAdapterName, type AdapterRecord } from './adapter/manager.ts';
export { decodeAdapter, encodeAdapter, readAdapterDir, writeAdapterDir, sortedJson, disposeSaved } from './adapter/files.ts';
export type {
  AdapterSelection,
  BlockSite,
  EmbeddingSite,
  ForwardCall,
  LinearBase,
  LinearBaseFactory,
  LinearSite,
  ModelDims,
  ModelGraph,
  ModelTask,
  PrefixHook,
  PromptHook,
  SelectionGroup,
  Site,
  SiteHook,
} from './model/graph.ts';
export { HookTable } from './model/hooks.ts';
export { BASE_ADAPTER, applyHooks, resolveSelection } from './model/selection.ts';
export { DenseLinearBase, runLinear } from './model/linear.ts';
export { LlamaModel, type LlamaOptions } from './model/llama.ts';
export { KvCache } from './model/kv-cache.ts';
export type { ForwardInput, ForwardOptions } from './model/forward.ts';
export type { HostTensors, WeightSource } from './model/weights.ts';
export { createTensorRuntime, type TensorRuntime, type TensorRuntimeOptions } from './runtime/runtime.ts';
export type { BackendOptions, TensorBackendAdapter, Tf } from './runtime/types.ts';
export { Rng } from './util/rng.ts';
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
export {
  DEFAULT_HUB_ENDPOINT,
  downloadModel,
  listRepoFiles,
  type DownloadedFile,
  type DownloadModelOptions,
  type DownloadModelResult,
  type FetchLike,
  type FileProgress,
  type HubOptions,
} from './hub/index.ts';
export { GPT2_END_OF_TEXT, gpt2TokenizerConfig, gpt2TokenizerJson, type Gpt2TokenizerJson } from './tokenizers/gpt2-bpe.ts';
export { writeGpt2TokenizerFiles, type WriteGpt2TokenizerOptions } from './tokenizers/gpt2-bpe-files.ts';
export {
  createModuleCopy,
  isSeqClsTask,
  type ModuleCopy,
  moduleCopyHook,
  moduleMatches,
  modulesToSaveSites,
  SEQ_CLS_HEADS,
  withSeqClsHeads,
} from './plugin/modules-to-save.ts';
export { assignSavedTensor } from './plugin/saved-tensors.ts';
