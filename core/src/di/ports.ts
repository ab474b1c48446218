import type { TensorBackendAdapter } from '../runtime/types.ts';
import { token } from './tokens.ts';

/**
 * Ports: what core needs from the platform, declared here as typed tokens and filled at the composition root by
 * platform adapters (`@peftkit/adapters`). Core and plugins never detect the runtime themselves.
 */
export interface PlatformInfo {
  /** 'node' | 'deno' | 'bun' | another runtime's name. */
  readonly runtime: string;
  readonly version: string;
}

/** A request handler in the WHATWG fetch shape (Hono's `app.fetch`). */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface HttpListening {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens with the runtime's own HTTP server (Deno.serve, Bun.serve, node:http). */
export interface HttpListener {
  listen(handler: FetchHandler, options: { port: number; hostname: string }): Promise<HttpListening>;
}

/** A message port to a worker: structured-clone messages both ways. */
export interface WorkerPort {
  post(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
  /** Called once when the worker dies (error or exit) with a reason. */
  onExit(listener: (reason: string) => void): void;
  terminate(): Promise<void> | void;
}

/** Starts a module in a worker (worker_threads on Node, Web Workers on Deno and Bun). */
export interface WorkerSpawner {
  spawn(module: URL): Promise<WorkerPort>;
}

/** Optional native libraries found on the machine (BLAS, …), reported by diagnostics. */
export interface NativeLibraries {
  list(): readonly { readonly name: string; readonly path: string }[];
}

/** Process shutdown requests (SIGINT, SIGTERM); the returned function removes the handler. */
export interface ShutdownSignals {
  onShutdown(handler: () => void): () => void;
}

export const PORTS = {
  Platform: token<PlatformInfo>('port:Platform'),
  TensorBackends: token<readonly TensorBackendAdapter[]>('port:TensorBackends'),
  HttpListener: token<HttpListener>('port:HttpListener'),
  WorkerSpawner: token<WorkerSpawner>('port:WorkerSpawner'),
  NativeLibraries: token<NativeLibraries>('port:NativeLibraries'),
  ShutdownSignals: token<ShutdownSignals>('port:ShutdownSignals'),
} as const;
