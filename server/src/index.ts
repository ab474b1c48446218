/**
 * @peftkit/server — OpenAI-, vLLM- and LoRAX-compatible multi-adapter serving on Hono. `createApp` imports no
 * runtime-specific module: listening and worker threads come from the platform adapters the application registers
 * (the `peftkit` package composes them in `peftkit serve`).
 */
export { createApp, createServing, type Serving } from './app.ts';
export type { ServerOptions } from './http/context.ts';
export * from './jobs/index.ts';
export { LocalEngine, type EngineOptions } from './engine/local.ts';
export { WorkerEngine } from './engine/worker-engine.ts';
export { loadServerPlugins } from './engine/plugins.ts';
export type {
  AdapterInfo,
  ClassifyJob,
  ClassifyOutput,
  Engine,
  EngineInfo,
  EngineStats,
  FinishReason,
  GenerateHandlers,
  GenerateJob,
  GenerateOutput,
  LoadAdapterOptions,
  MergedAdapters,
  SamplingParams,
  TokenOut,
} from './engine/types.ts';
export { type EngineKernelFactory, engineKernelFactory } from './engine/compose.ts';
