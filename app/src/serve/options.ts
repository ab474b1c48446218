import type { EngineOptions } from '@peftkit/server';
import type { ServerOptions } from '@peftkit/server';

/** Command-line and environment settings shared by the Node, Deno and Bun entry points. */
export interface ServeSettings {
  engine: EngineOptions;
  server: ServerOptions;
  port: number;
  host: string;
  /** Run the engine in-process instead of a worker (debugging). */
  inProcess: boolean;
}

export const SERVE_USAGE = `Usage: peftkit serve --model <dir> --adapters <root> [--preload a,b] [--port N] [--host H]
                     [--adapter-budget-mb N] [--max-batch N] [--batch-window-ms N] [--max-queue N]
                     [--unknown-model base|404] [--in-process] [--backend wasm|cpu|tensorflow]

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
  const flags = new Set(['in-process', 'help']);
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
    values.set(key, value);
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
    'unknown-model',
    'in-process',
    'backend',
  ]);
  for (const key of values.keys()) if (!known.has(key)) throw new Error(`unknown option --${key}`);
  const model = values.get('model');
  const adapters = values.get('adapters');
  if (!model || !adapters) throw new Error('--model and --adapters are required');
  const unknown = values.get('unknown-model') ?? 'base';
  if (unknown !== 'base' && unknown !== '404') throw new Error(`--unknown-model must be 'base' or '404'`);
  const engine: EngineOptions = {
    modelDir: model,
    adapterRoot: adapters,
    preload: (values.get('preload') ?? '').split(',').filter(Boolean),
    adapterBudgetBytes: positiveInt('adapter-budget-mb', values.get('adapter-budget-mb'), 256) * 2 ** 20,
    maxBatch: positiveInt('max-batch', values.get('max-batch'), 32) || 1,
    batchWindowMs: positiveInt('batch-window-ms', values.get('batch-window-ms'), 5),
    maxQueue: positiveInt('max-queue', values.get('max-queue'), 256),
  };
  const backend = values.get('backend');
  if (backend) engine.backend = backend;
  const server: ServerOptions = { unknownModel: unknown };
  if (env.PEFTKIT_ADMIN_KEY) server.adminKey = env.PEFTKIT_ADMIN_KEY;
  if (env.PEFTKIT_API_KEY) server.apiKey = env.PEFTKIT_API_KEY;
  return { engine, server, port: positiveInt('port', values.get('port'), 8000), host: values.get('host') ?? '127.0.0.1', inProcess: values.has('in-process') };
}
