import { type HttpListening, PORTS } from '@peftkit/core';
import { createServing, type Engine, LocalEngine, WorkerEngine } from '@peftkit/server';
import { platformScope } from '../compose.ts';
import { createEngineKernel, ENGINE_COMPOSITION } from './composition.ts';
import type { ServeSettings } from './options.ts';

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Drains in-flight requests, closes the engine, stops listening. */
  close(): Promise<void>;
}

/** Starts the engine (in a worker unless inProcess) and the runtime's HTTP server, both from the platform adapters. */
export async function startServer(settings: ServeSettings): Promise<RunningServer> {
  const scope = platformScope();
  const options = { ...settings.engine, composition: ENGINE_COMPOSITION };
  const engine: Engine = settings.inProcess
    ? await LocalEngine.create(options, createEngineKernel)
    : await WorkerEngine.create(options, scope.resolve(PORTS.WorkerSpawner));
  const serving = createServing(engine, settings.server);
  let listening: HttpListening;
  try {
    listening = await scope.resolve(PORTS.HttpListener).listen(serving.app.fetch, { port: settings.port, hostname: settings.host });
  } catch (error) {
    await serving.shutdown();
    throw error;
  }
  return {
    url: listening.url,
    port: listening.port,
    async close() {
      await serving.shutdown();
      await listening.close();
    },
  };
}
