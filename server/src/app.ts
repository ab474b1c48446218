import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Engine } from './engine/types.ts';
import { registerAdmin } from './http/admin.ts';
import { registerClassify } from './http/classify.ts';
import { createContext, type ServerContext, type ServerOptions } from './http/context.ts';
import { httpError } from './http/errors.ts';
import { registerLorax } from './http/lorax.ts';
import { Metrics } from './http/metrics.ts';
import { registerOpenAi } from './http/openai.ts';
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
  for (let i = 0; i < expected.length; i++) diff |= (given.charCodeAt(i % Math.max(given.length, 1)) || 0) ^ expected.charCodeAt(i);
  return diff === 0;
}

/** The HTTP server over an engine, with its shutdown. Imports no runtime-specific module. */
export function createServing(engine: Engine, options: ServerOptions = {}): Serving {
  const metrics = new Metrics();
  const ctx = createContext(engine, options, metrics);
  const app = new Hono();
  const lorax = (path: string) => path === '/generate' || path === '/generate_stream';

  app.use('*', async (c, next) => {
    const started = performance.now();
    const path = c.req.path;
    if (ctx.state.draining && !OPEN.has(path)) {
      return sendError(c, httpError(503, 'shutting_down', 'the server is shutting down'), lorax(path) ? 'lorax' : 'openai');
    }
    ctx.state.inFlight++;
    try {
      await next();
    } finally {
      ctx.state.inFlight--;
      if (c.res.status === 429) metrics.rejected++;
      metrics.observe(routeLabel(path), c.res.status, (performance.now() - started) / 1000);
    }
  });

  app.use('*', async (c, next) => {
    const path = c.req.path;
    if (OPEN.has(path)) return next();
    const key = ADMIN.test(path) ? ctx.options.adminKey : ctx.options.apiKey;
    if (key !== undefined && !sameKey(bearer(c.req.header('authorization')), key)) {
      const what = ADMIN.test(path) ? 'admin' : 'API';
      return sendError(c, httpError(401, 'invalid_api_key', `missing or wrong ${what} key (Authorization: Bearer <key>)`), lorax(path) ? 'lorax' : 'openai');
    }
    return next();
  });

  app.use(
    '*',
    bodyLimit({
      maxSize: ctx.options.bodyLimitBytes,
      onError: (c) =>
        sendError(c, httpError(413, 'body_too_large', `the request body exceeds ${ctx.options.bodyLimitBytes} bytes`), lorax(c.req.path) ? 'lorax' : 'openai'),
    }),
  );

  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', (c) => (ctx.state.draining ? c.json({ status: 'draining' }, 503) : c.json({ status: 'ready' })));
  app.get('/metrics', (c) =>
    c.text(metrics.render(engine.stats(), { inFlight: ctx.state.inFlight, draining: ctx.state.draining }), 200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    }),
  );

  registerOpenAi(app, ctx);
  registerAdmin(app, ctx);
  registerLorax(app, ctx);
  registerClassify(app, ctx);

  app.notFound((c) => sendError(c, httpError(404, 'not_found', `no route ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => errorResponse(c, error, lorax(c.req.path) ? 'lorax' : 'openai'));

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
