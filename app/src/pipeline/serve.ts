import { SPAM_CHOICES, spamPrompt } from './tasks.ts';

/**
 * The main job's last stage: start the server (`peftkit serve`'s wiring) with the trained adapters preloaded, and give
 * the user curl commands that exercise each of them.
 */

export interface MainJobServer {
  readonly url: string;
  /** Shell commands to try, one per line group. */
  readonly examples: readonly string[];
  /** Resolves once the server has stopped (SIGINT / SIGTERM or close()). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

const json = (value: unknown): string => `'${JSON.stringify(value).replace(/'/g, "'\\''")}'`;

export function exampleCommands(url: string): string[] {
  const post = (path: string, body: unknown) =>
    `curl -s ${url}${path} -H 'content-type: application/json' -d ${json(body)}`;
  const spam = spamPrompt('WIN a FREE iPod now! Click here to claim your prize, limited offer, act today!!!');
  return [
    `curl -s ${url}/v1/models`,
    post('/v1/completions', { model: 'spam-filter', prompt: spam, max_tokens: 3, temperature: 0 }),
    post('/v1/completions', {
      model: 'sotu-style',
      prompt: 'My fellow Americans, tonight',
      max_tokens: 32,
      temperature: 0.7,
      seed: 1,
    }),
    post('/v1/completions', {
      model: 'base',
      prompt: 'My fellow Americans, tonight',
      max_tokens: 32,
      temperature: 0.7,
      seed: 1,
    }),
    post('/generate', { inputs: 'The economy', parameters: { adapter_id: 'sotu-style', max_new_tokens: 24 } }),
    `# the spam filter answers one of: ${SPAM_CHOICES.map((c) => JSON.stringify(c)).join(', ')}`,
  ];
}

export async function startMainJobServer(options: {
  modelDir: string;
  adaptersDir: string;
  adapters: readonly string[];
  port: number;
  backend?: string;
  /** Install SIGINT/SIGTERM handlers that close the server (the CLI does; tests do not). */
  handleSignals?: boolean;
}): Promise<MainJobServer> {
  // Loaded on demand: the server's dependencies (hono) are needed only when the job serves.
  const { startServer } = await import('../serve/serve.ts');
  const running = await startServer({
    engine: {
      modelDir: options.modelDir,
      adapterRoot: options.adaptersDir,
      preload: [...options.adapters],
      ...(options.backend ? { backend: options.backend } : {}),
    },
    server: {},
    port: options.port,
    host: '127.0.0.1',
    inProcess: false,
  });
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= running.close().then(resolveClosed);
    return closing;
  };
  if (options.handleSignals !== false) {
    const proc = globalThis.process;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) proc?.once?.(signal, () => void close());
  }
  return { url: running.url, examples: exampleCommands(running.url), closed, close };
}
