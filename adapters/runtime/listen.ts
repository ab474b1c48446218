import {
  type FetchHandler,
  type HttpListener,
  type HttpListening,
  PeftkitError,
  type PlatformInfo,
} from '@peftkit/core';

interface RuntimeServers {
  Deno: {
    serve(
      options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void },
      handler: FetchHandler,
    ): { addr: { port: number }; shutdown(): Promise<void> };
  };
  Bun: {
    serve(options: { port: number; hostname: string; fetch: FetchHandler; idleTimeout?: number }): {
      port: number;
      stop(force?: boolean): Promise<void> | void;
    };
  };
}

const urlOf = (hostname: string, port: number) =>
  `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`;

/**
 * A port that cannot be bound is one coded error on every runtime (node:net's EADDRINUSE / EACCES, Deno's AddrInUse /
 * PermissionDenied, Bun's EADDRINUSE) instead of a runtime-specific stack.
 */
function listenError(error: unknown, hostname: string, port: number): unknown {
  const e = error as { code?: unknown; name?: unknown; message?: unknown };
  const text = typeof e?.message === 'string' ? e.message : String(error);
  const inUse = e?.code === 'EADDRINUSE' || e?.name === 'AddrInUse' || /address already in use|EADDRINUSE/i.test(text);
  const denied = e?.code === 'EACCES' || e?.name === 'PermissionDenied' || /EACCES|permission denied/i.test(text);
  if (!inUse && !denied) return error;
  const why = inUse ? 'is already in use' : 'is not allowed for this user';
  return new PeftkitError(
    'PEFTKIT_E_PORT_IN_USE',
    `cannot listen on ${urlOf(hostname, port)}: the port ${why} (choose another with --port)`,
    { hostname, port },
    { cause: error },
  );
}

/** The runtime's own HTTP server: Deno.serve, Bun.serve, or @hono/node-server (node:http) on Node. */
export function httpListener(platform: PlatformInfo): HttpListener {
  return {
    async listen(handler, options): Promise<HttpListening> {
      try {
        return await listenWith(platform, handler, options);
      } catch (error) {
        throw listenError(error, options.hostname, options.port);
      }
    },
  };
}

async function listenWith(
  platform: PlatformInfo,
  handler: FetchHandler,
  { port, hostname }: { port: number; hostname: string },
): Promise<HttpListening> {
  const g = globalThis as unknown as RuntimeServers;
  if (platform.runtime === 'deno') {
    const server = g.Deno.serve({ port, hostname, onListen: () => {} }, handler);
    return { url: urlOf(hostname, server.addr.port), port: server.addr.port, close: () => server.shutdown() };
  }
  if (platform.runtime === 'bun') {
    // idleTimeout 0: slow generations on small machines must not be cut by Bun's 10 s default.
    const server = g.Bun.serve({ port, hostname, fetch: handler, idleTimeout: 0 });
    return { url: urlOf(hostname, server.port), port: server.port, close: async () => void (await server.stop(true)) };
  }
  const { serve } = await import('@hono/node-server');
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: handler, port, hostname }, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  return {
    url: urlOf(hostname, actual),
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
