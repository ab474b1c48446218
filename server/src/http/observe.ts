/**
 * Per-request bookkeeping: a request id (echoed in `x-request-id`), the in-flight gauge, the latency histogram and
 * the access log. A streamed response is only done when its last byte is sent or the client goes away, so for
 * event streams all of that is recorded then, not when the headers leave (D8).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { localPath } from './local-path.ts';
import type { Metrics } from './metrics.ts';

export interface ObserveOptions {
  metrics: Metrics;
  state: { inFlight: number };
  /** One JSON line per request on stderr. */
  accessLog: boolean;
  route(path: string): string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's `x-request-id` when it is a sane token, else a fresh one. */
export function requestId(given: string | undefined): string {
  return given !== undefined && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

/** `response` whose body calls `done` once when fully read, failed or cancelled. */
function onBodyEnd(response: Response, done: () => void): Response {
  const body = response.body;
  if (body === null) {
    done();
    return response;
  }
  const reader = body.getReader();
  const wrapped = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: end, value } = await reader.read();
        if (end) {
          controller.close();
          done();
        } else controller.enqueue(value);
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    cancel(reason) {
      done(); // the client went away: the stream's own onAbort cancels the generation
      return reader.cancel(reason);
    },
  });
  return new Response(wrapped, { status: response.status, statusText: response.statusText, headers: response.headers });
}

export function observe(options: ObserveOptions): MiddlewareHandler {
  const { metrics, state } = options;
  return async (c: Context, next) => {
    const started = performance.now();
    const id = requestId(c.req.header('x-request-id'));
    state.inFlight++;
    let finished = false;
    const finish = (stream: boolean) => {
      if (finished) return;
      finished = true;
      state.inFlight--;
      const seconds = (performance.now() - started) / 1000;
      const status = c.res.status;
      const route = options.route(localPath(c));
      if (status === 429) metrics.rejected++;
      metrics.observe(route, status, seconds);
      if (options.accessLog) {
        const version = c.res.headers.get('x-peftkit-adapter-version');
        const line = {
          time: new Date().toISOString(),
          request_id: id,
          method: c.req.method,
          path: c.req.path,
          route,
          status,
          ms: Math.round(seconds * 1e4) / 10,
          stream,
          adapter: version,
        };
        console.error(JSON.stringify(line));
      }
    };
    try {
      await next();
    } finally {
      c.header('x-request-id', id);
      const stream = (c.res.headers.get('content-type') ?? '').startsWith('text/event-stream');
      if (stream && c.res.body !== null) c.res = onBodyEnd(c.res, () => finish(true));
      else finish(false);
    }
  };
}

/** Methods each route answers, for 405 + Allow (Hono itself answers a wrong method with 404). */
const ROUTES: [RegExp, string][] = [
  [/^\/v1\/(completions|chat\/completions|classify|load_lora_adapter|unload_lora_adapter)$/, 'POST'],
  [/^\/(generate|generate_stream)$/, 'POST'],
  [/^\/v1\/models(\/.+)?$/, 'GET'],
  [/^\/v1\/adapters$/, 'GET'],
  [/^\/v1\/adapters\/[^/]+$/, 'PUT, DELETE'],
  [/^\/(health|ready|metrics)$/, 'GET'],
];

/** The Allow header value for a path the server has routes for, or null for an unknown path. */
export function allowedMethods(path: string): string | null {
  for (const [pattern, methods] of ROUTES) if (pattern.test(path)) return methods;
  return null;
}
