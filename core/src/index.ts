/** @peftkit/core public API. Plugins import only from here (and `@peftkit/core/train`). */
export { z } from 'zod';
/** Tensor types, so plugins need not derive them from `tf`'s return types. */
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Variable } from '@tensorflow/tfjs-core';
export { PeftkitError, isPeftkitError } from './errors.ts';
export {
  ERROR_CATALOG,
  errorInfo,
  registerErrorCodes,
  type BuiltInErrorCode,
  type ErrorInfo,
} from './error-catalog.ts';
export { createKernel, type Kernel, type KernelOptions } from './kernel.ts';
export { Scope } from './di/scope.ts';
export { TOKENS, token, type Token, type KernelSettings } from './di/tokens.ts';
export {
  PORTS,
  type FetchHandler,
  type HttpListener,
  type HttpListening,
  type NativeLibraries,
  type PlatformInfo,
  type ShutdownSignals,
  type WorkerPort,
  type WorkerSpawner,
} from './di/ports.ts';
export {
  PLUGIN_API_VERSION,
  HOOK_NAMES,
  definePlugin,
  type AdapterStats,
  type CombineOptions,
  type CombineSource,
  type CombineStrategy,
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
export {
  importPlugin,
  type PluginImportAllOptions,
  type PluginImportFailure,
  type PluginImportOptions,
} from './plugin/loader.ts';
export { isPathSpecifier, resolvePluginSpecifier } from './plugin/resolve.ts';
export { parseConfig, validatePluginObject } from './plugin/validate.ts';
export { applyWeightUpdates, type WeightUpdate } from './plugin/merge-helpers.ts';
export { CONFIG_TABLE_END, CONFIG_TABLE_START, configTable, withConfigTable } from './plugin/config-table.ts';
export { AdapterManager, assertAdapterName, findPluginForConfig, type AdapterRecord } from './adapter/manager.ts';
export { defaultAdapterStats, tensorBytes } from './adapter/stats.ts';
export {
  decodeAdapter,
  encodeAdapter,
  readAdapterDir,
  writeAdapterDir,
  sortedJson,
  disposeSaved,
} from './adapter/files.ts';
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
  NormHook,
  NormParams,
  NormSite,
  NormUpdate,
  PrefixHook,
  PromptHook,
  RowBatcher,
  SelectionGroup,
  Site,
  SiteHook,
} from './model/graph.ts';
export { HookTable } from './model/hooks.ts';
export { BASE_ADAPTER, applyHooks, resolveSelection, rowAdapters } from './model/selection.ts';
export { DenseLinearBase, createLinearSite, runLinear } from './model/linear.ts';
export { SiteGraph, createEmbeddingSite } from './model/site-graph.ts';
export { createNormSite, RMS_NORM_KERNEL, runNorm, type NormSiteOptions } from './model/norm.ts';
export { KV_WRITE_KERNEL, KvCache } from './model/kv-cache.ts';
export { CallMemo } from './model/memo.ts';
export {
  lastRealIndex,
  selectLastPosition,
  validateInput,
  type ForwardInput,
  type ForwardOptions,
  type LoadedModelGraph,
} from './model/forward.ts';
export * from './model/weights.ts';
export type { DecodeOptions, EncodeOptions, Tokenizer } from './model/tokenizer.ts';
export { backendHasKernels } from './runtime/backend-kernels.ts';
export { createTensorRuntime, type TensorRuntime, type TensorRuntimeOptions } from './runtime/runtime.ts';
export type { BackendOptions, TensorBackendAdapter, Tf } from './runtime/types.ts';
export { Rng } from './util/rng.ts';
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
export {
  fullRegex,
  isTargeted,
  layerIndex,
  matchesEntry,
  patternKey,
  type TargetingConfig,
  targetingFields,
  targetingIssues,
} from './plugin/targeting.ts';
export { dropout, stopGradient } from './plugin/dropout.ts';
