import { createServing } from '../src/app.ts';
import { LocalEngine } from '../src/engine/local.ts';
import type { Engine } from '../src/engine/types.ts';
import { WorkerEngine } from '../src/engine/worker-engine.ts';
import type { ServeSettings } from './options.ts';
import { listenRuntime } from './start.ts';

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Drains in-flight requests, closes the engine, stops listening. */
  close(): Promise<void>;
}

/** Starts the engine (in a worker unless inProcess) and the runtime's HTTP server. */
export async function startServer(settings: ServeSettings): Promise<RunningServer> {
  const engine: Engine = settings.inProcess ? await LocalEngine.create(settings.engine) : await WorkerEngine.create(settings.engine);
  const serving = createServing(engine, settings.server);
  const listening = await listenRuntime(serving.app, settings.port, settings.host);
  return {
    url: listening.url,
    port: listening.port,
    async close() {
      await serving.shutdown();
      await listening.close();
    },
  };
}
