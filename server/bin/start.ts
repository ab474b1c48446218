/** Listens with the runtime's own HTTP server: Deno.serve, Bun.serve, or @hono/node-server on Node. */
import type { Hono } from 'hono';

export interface Listening {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type Handler = (request: Request) => Response | Promise<Response>;

interface RuntimeGlobals {
  Deno?: {
    serve(
      options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void },
      handler: Handler,
    ): {
      addr: { port: number };
      shutdown(): Promise<void>;
    };
  };
  Bun?: {
    serve(options: { port: number; hostname: string; fetch: Handler; idleTimeout?: number }): { port: number; stop(force?: boolean): Promise<void> | void };
  };
}

export async function listenRuntime(app: Hono, port = 0, hostname = '127.0.0.1'): Promise<Listening> {
  const g = globalThis as unknown as RuntimeGlobals;
  const url = (p: number) => `http://${hostname}:${p}`;
  if (g.Deno) {
    const server = g.Deno.serve({ port, hostname, onListen: () => {} }, app.fetch);
    return { url: url(server.addr.port), port: server.addr.port, close: () => server.shutdown() };
  }
  if (g.Bun) {
    // idleTimeout 0: slow generations on small machines must not be cut by Bun's 10 s default.
    const server = g.Bun.serve({ port, hostname, fetch: app.fetch, idleTimeout: 0 });
    return { url: url(server.port), port: server.port, close: async () => void (await server.stop(true)) };
  }
  const { serve } = await import('@hono/node-server');
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port, hostname }, () => resolve(s));
  });
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  return {
    url: url(actual),
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
