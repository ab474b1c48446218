import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Engine } from './engine/types.ts';
import { localPath, recordLocalPath } from './http/local-path.ts';
import { registerAdmin } from './http/admin.ts';
import { registerClassify } from './http/classify.ts';
import { createContext, type ServerContext, type ServerOptions } from './http/context.ts';
import { httpError } from './http/errors.ts';
import { registerLorax } from './http/lorax.ts';
import { Metrics } from './http/metrics.ts';
import { registerJobs } from './http/fine-tuning.ts';
import { registerOpenAi } from './http/openai.ts';
import { corsFor, guard } from './http/guard.ts';
import { allowedMethods, observe } from './http/observe.ts';
import { errorResponse, sendError } from './http/respond.ts';

export interface Serving {
  readonly app: Hono;
  readonly context: ServerContext;
  /** Refuses new requests (503), lets in-flight ones finish, then closes the engine. */
  shutdown(): Promise<void>;
}

const ADMIN = /^\/v1\/(load_lora_adapter|unload_lora_adapter|adapters)(\/|$)/;
const OPEN = new Set(['/health', '/ready', '/metrics']);

function routeLabel(path: string): string {
  if (path.startsWith('/v1/models/')) return '/v1/models/:id';
  if (path.startsWith('/v1/adapters/')) return '/v1/adapters/:name';
  const known = [
    '/v1/completions',
    '/v1/chat/completions',
    '/v1/models',
    '/v1/classify',
    '/v1/adapters',
    '/v1/load_lora_adapter',
    '/v1/unload_lora_adapter',
    '/generate',
    '/generate_stream',
    '/health',
    '/ready',
    '/metrics',
  ];
  return known.includes(path) ? path : 'other';
}

function bearer(header: string | undefined): string | null {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return match ? (match[1] as string).trim() : null;
}

/** Constant-time comparison, so response timing does not leak how much of a key matched. */
function sameKey(given: string | null, expected: string): boolean {
  if (given === null) return false;
  let diff = given.length ^ expected.length;
  for (let i = 0; i < expected.length; i++)
    diff |= (given.charCodeAt(i % Math.max(given.length, 1)) || 0) ^ expected.charCodeAt(i);
  return diff === 0;
}

/** The HTTP server over an engine, with its shutdown. Imports no runtime-specific module. */
export function createServing(engine: Engine, options: ServerOptions = {}): Serving {
  const metrics = new Metrics();
  const ctx = createContext(engine, options, metrics);
  const app = new Hono();
  const lorax = (path: string) => path === '/generate' || path === '/generate_stream';

  const style = (path: string) => (lorax(path) ? 'lorax' : 'openai');
  // Request id, in-flight gauge, latency and access log; streams are recorded when they end (D8).
  // First: the path relative to the mount point, which every later check matches on.
  app.use('*', recordLocalPath());
  app.use('*', observe({ metrics, state: ctx.state, accessLog: ctx.options.accessLog, route: routeLabel }));
  app.use('*', async (c, next) => {
    const path = localPath(c);
    if (ctx.state.draining && !OPEN.has(path)) {
      const e = { ...httpError(503, 'shutting_down', 'the server is shutting down'), retryAfterSeconds: 5 };
      return sendError(c, e, style(path));
    }
    return next();
  });
  const guardOptions = {
    allowedHosts: ctx.options.allowedHosts,
    allowedOrigins: ctx.options.allowedOrigins,
    cors: ctx.options.cors,
  };
  if (guardOptions.cors) app.use('*', corsFor(guardOptions));
  app.use(
    '*',
    guard(guardOptions, (path) => OPEN.has(path), style),
  );

  app.use('*', async (c, next) => {
    const path = localPath(c);
    if (OPEN.has(path)) return next();
    const key = ADMIN.test(path) ? ctx.options.adminKey : ctx.options.apiKey;
    if (key !== undefined && !sameKey(bearer(c.req.header('authorization')), key)) {
      const what = ADMIN.test(path) ? 'admin' : 'API';
      return sendError(
        c,
        httpError(401, 'invalid_api_key', `missing or wrong ${what} key (Authorization: Bearer <key>)`),
        lorax(path) ? 'lorax' : 'openai',
      );
    }
    return next();
  });

  app.use(
    '*',
    bodyLimit({
      maxSize: ctx.options.bodyLimitBytes,
      onError: (c) =>
        sendError(
          c,
          httpError(413, 'body_too_large', `the request body exceeds ${ctx.options.bodyLimitBytes} bytes`),
          lorax(localPath(c)) ? 'lorax' : 'openai',
        ),
    }),
  );

  // 503 while the engine worker restarts (degraded) or could not be restarted
  // (dead); Retry-After says when to look again.
  app.get('/health', async (c) => {
    const health = await engine.health();
    if (health.status === 'ok') return c.json(health);
    if (health.status !== 'closed') c.header('Retry-After', '1');
    return c.json(health, 503);
  });
  app.get('/ready', async (c) => {
    if (ctx.state.draining) return c.json({ status: 'draining' }, 503);
    const health = await engine.health();
    return health.status === 'ok' ? c.json({ status: 'ready' }) : c.json({ status: health.status }, 503);
  });
  app.get('/metrics', (c) =>
    c.text(metrics.render(engine.stats(), { inFlight: ctx.state.inFlight, draining: ctx.state.draining }), 200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    }),
  );

  if (options.jobs) registerJobs(app, ctx, options.jobs); // before the inference routes: its model guard runs first
  registerOpenAi(app, ctx);
  registerAdmin(app, ctx);
  registerLorax(app, ctx);
  registerClassify(app, ctx);

  app.notFound((c) => {
    const allow = allowedMethods(localPath(c));
    if (allow !== null)
      return sendError(
        c,
        { ...httpError(405, 'method_not_allowed', `${c.req.method} is not allowed here (allowed: ${allow})`), allow },
        style(localPath(c)),
      );
    return sendError(c, httpError(404, 'not_found', `no route ${c.req.method} ${c.req.path}`));
  });
  app.onError((error, c) => errorResponse(c, error, lorax(localPath(c)) ? 'lorax' : 'openai'));

  let closing: Promise<void> | null = null;
  return {
    app,
    context: ctx,
    shutdown() {
      ctx.state.draining = true;
      closing ??= engine.close();
      return closing;
    },
  };
}

/** A Hono app serving `engine` (OpenAI, vLLM and LoRAX routes); see createServing for graceful shutdown. */
export function createApp(engine: Engine, options: ServerOptions = {}): Hono {
  return createServing(engine, options).app;
}
