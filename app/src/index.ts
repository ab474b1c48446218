/**
 * peftkit — the application package: the `peftkit` CLI, the main job, and the composition root. Import
 * `createKernel` from here to get a kernel wired with this runtime's platform adapters.
 */
export { createKernel, platformScope } from './compose.ts';
export { FIRST_PARTY_PLUGINS, loadPlugins } from './cli/discover.ts';
export { main, COMMANDS } from './cli/main.ts';
/**
 * The embedded default model's directory (app/assets/peftkit-moby, shipped in the npm package): pass it to loadModel.
 */
export { DEFAULT_MODEL_DIR } from './cli/cmd-start.ts';
export { startServer, type RunningServer } from './serve/serve.ts';
export { parseServeArgs, SERVE_USAGE, type ServeSettings } from './serve/options.ts';
export { createEngineKernel, ENGINE_COMPOSITION } from './serve/composition.ts';
