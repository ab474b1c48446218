import type { EngineOptions } from '@peftkit/server';
import type { ServerOptions } from '@peftkit/server';
import type { JobsSettings } from '../jobs/compose.ts';
import { applyHardening, HARDENING_FLAGS, HARDENING_OPTIONS, HARDENING_USAGE } from './hardening.ts';

/** Command-line and environment settings shared by the Node, Deno and Bun entry points. */
export interface ServeSettings {
  engine: EngineOptions;
  server: ServerOptions;
  port: number;
  host: string;
  /** Run the engine in-process instead of a worker (debugging). */
  inProcess: boolean;
  /** Files and fine-tuning jobs (`--store`, `--redis`); unset: no such routes. */
  jobs?: JobsSettings;
}

export const SERVE_USAGE = `Usage: peftkit serve --model <dir> --adapters <root> [--preload a,b] [--port N] [--host H]
                     [--adapter-budget-mb N] [--max-batch N] [--batch-window-ms N] [--max-queue N]
                     [--max-input-tokens N] [--drain-timeout-ms N]
                     [--unknown-model 404|base] [--in-process] [--backend wasm|cpu|tensorflow]
${HARDENING_USAGE}
                     [--plugin <specifier>]... [--store <dir> [--redis <url>] [--max-file-mb N]]

Serves the model with OpenAI (/v1/completions, /v1/chat/completions, /v1/models), vLLM
(/v1/load_lora_adapter, /v1/unload_lora_adapter), LoRAX (/generate, /generate_stream) and
peftkit (/v1/adapters, /v1/classify, /health, /ready, /metrics) routes. Admin routes need
Authorization: Bearer $PEFTKIT_ADMIN_KEY when it is set; inference routes need $PEFTKIT_API_KEY when set.`;

const positiveInt = (name: string, value: string | undefined, fallback: number): number => {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
};

/** Parses `--key value` / `--flag` arguments; throws Error with a usage-style message on bad input. */
export function parseServeArgs(argv: readonly string[], env: Record<string, string | undefined>): ServeSettings {
  const values = new Map<string, string>();
  const plugins: string[] = [];
  const flags = new Set<string>(['in-process', 'help', ...HARDENING_FLAGS]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}'`);
    const [key, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (flags.has(key)) {
      values.set(key, 'true');
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${key} needs a value`);
    if (key === 'plugin')
      plugins.push(value); // repeatable
    else values.set(key, value);
  }
  if (values.has('help')) throw new Error(SERVE_USAGE);
  const known = new Set([
    'model',
    'adapters',
    'preload',
    'port',
    'host',
    'adapter-budget-mb',
    'max-batch',
    'batch-window-ms',
    'max-queue',
    'max-input-tokens',
    'drain-timeout-ms',
    'unknown-model',
    'in-process',
    'backend',
    'plugin',
    'store',
    'redis',
    'max-file-mb',
    ...HARDENING_FLAGS,
    ...HARDENING_OPTIONS,
  ]);
  for (const key of values.keys()) if (!known.has(key)) throw new Error(`unknown option --${key}`);
  const model = values.get('model');
  const adapters = values.get('adapters');
  if (!model || !adapters) throw new Error('--model and --adapters are required');
  // 404 like OpenAI and vLLM; 'base' serves the base model for any unknown name.
  const unknown = values.get('unknown-model') ?? '404';
  if (unknown !== 'base' && unknown !== '404') throw new Error(`--unknown-model must be 'base' or '404'`);
  const engine: EngineOptions = {
    modelDir: model,
    adapterRoot: adapters,
    preload: (values.get('preload') ?? '').split(',').filter(Boolean),
    adapterBudgetBytes: positiveInt('adapter-budget-mb', values.get('adapter-budget-mb'), 256) * 2 ** 20,
    maxBatch: positiveInt('max-batch', values.get('max-batch'), 32) || 1,
    batchWindowMs: positiveInt('batch-window-ms', values.get('batch-window-ms'), 5),
    // Requests waiting beyond the free batch slots (0: none wait; free slots still admit).
    maxQueue: positiveInt('max-queue', values.get('max-queue'), 256),
    drainTimeoutMs: positiveInt('drain-timeout-ms', values.get('drain-timeout-ms'), 30_000),
  };
  // Default: the model's context length (the engine caps larger values at it); prompts are refused before tokenizing.
  const maxInput = values.get('max-input-tokens');
  if (maxInput !== undefined) engine.maxInputTokens = positiveInt('max-input-tokens', maxInput, 0) || 1;
  const backend = values.get('backend');
  if (backend) engine.backend = backend;
  // --plugin specifiers as given; cmd-serve adds the project's and PEFTKIT_PLUGINS and makes paths absolute.
  if (plugins.length > 0) engine.plugins = plugins;
  const server: ServerOptions = { unknownModel: unknown };
  if (env.PEFTKIT_ADMIN_KEY) server.adminKey = env.PEFTKIT_ADMIN_KEY;
  if (env.PEFTKIT_API_KEY) server.apiKey = env.PEFTKIT_API_KEY;
  const jobs = jobsSettings(values, env);
  // an upload is one request body: the body limit grows to the file cap (plus multipart framing)
  if (jobs?.maxFileBytes !== undefined) server.bodyLimitBytes = Math.max(2 ** 20, jobs.maxFileBytes + 64 * 1024);
  const settings: ServeSettings = {
    engine,
    server,
    port: positiveInt('port', values.get('port'), 8000),
    host: values.get('host') ?? '127.0.0.1',
    inProcess: values.has('in-process'),
  };
  if (jobs) settings.jobs = jobs;
  applyHardening(values, settings, env);
  return settings;
}

/**
 * `--store` enables files and fine-tuning jobs (embedded queue), `--redis` puts
 * them on BullMQ; keys from PEFTKIT_API_KEYS.
 */
function jobsSettings(
  values: ReadonlyMap<string, string>,
  env: Record<string, string | undefined>,
): JobsSettings | undefined {
  const store = values.get('store');
  if (store === undefined) {
    if (values.has('redis'))
      throw new Error('--redis needs --store <dir> (the shared store of files, jobs and checkpoints)');
    return undefined;
  }
  const jobs: JobsSettings = {
    store,
    maxFileBytes: (positiveInt('max-file-mb', values.get('max-file-mb'), 8) || 1) * 2 ** 20,
  };
  const redis = values.get('redis');
  if (redis !== undefined) jobs.redis = redis;
  const keys = (env.PEFTKIT_API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  if (keys.length > 0) jobs.apiKeys = keys;
  return jobs;
}
