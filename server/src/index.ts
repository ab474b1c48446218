/**
 * @peftkit/server — OpenAI-, vLLM- and LoRAX-compatible multi-adapter serving on Hono. `createApp` imports no
 * runtime-specific module; entry points for Node, Deno and Bun live in server/bin/.
 */
export { createApp, createServing, type Serving } from './app.ts';
export type { ServerOptions } from './http/context.ts';
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
// Runtime-native listening (Deno.serve / Bun.serve / @hono/node-server, imported dynamically on Node only).
export { startServer, type RunningServer } from '../bin/serve.ts';
export { parseServeArgs, SERVE_USAGE, type ServeSettings } from '../bin/options.ts';
export { listenRuntime, type Listening } from '../bin/start.ts';
