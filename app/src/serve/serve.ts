import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type HttpListening, PORTS } from '@peftkit/core';
import { PeftkitError } from '@peftkit/io';
import { createServing, type Engine, LocalEngine, WorkerEngine } from '@peftkit/server';
import { platformScope } from '../compose.ts';
import { composeJobs } from '../jobs/compose.ts';
import { createEngineKernel, ENGINE_COMPOSITION } from './composition.ts';
import type { ServeSettings } from './options.ts';

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Drains in-flight requests, closes the engine, stops listening. */
  close(): Promise<void>;
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** Refuses to start on a model or adapter root that is not there: otherwise every request would fail later. */
export async function checkServeDirs(settings: ServeSettings): Promise<void> {
  const { modelDir, adapterRoot } = settings.engine;
  if (
    !(await stat(join(modelDir, 'config.json')).then(
      (s) => s.isFile(),
      () => false,
    ))
  ) {
    throw new PeftkitError(
      'PEFTKIT_E_MODEL_NOT_FOUND',
      `serve: --model '${modelDir}' is not a model directory (no config.json)`,
      { dir: modelDir },
    );
  }
  if (!(await isDirectory(adapterRoot))) {
    throw new PeftkitError(
      'PEFTKIT_E_USAGE',
      `serve: --adapters '${adapterRoot}' is not a directory (create it, ` +
        'or name the folder that holds your adapter directories)',
      { option: 'adapters', dir: adapterRoot },
    );
  }
}

/** Starts the engine (in a worker unless inProcess) and the runtime's HTTP server, both from the platform adapters. */
export async function startServer(settings: ServeSettings): Promise<RunningServer> {
  await checkServeDirs(settings);
  const scope = platformScope();
  const options = { ...settings.engine, composition: ENGINE_COMPOSITION };
  const engine: Engine = settings.inProcess
    ? await LocalEngine.create(options, createEngineKernel)
    : await WorkerEngine.create(options, scope.resolve(PORTS.WorkerSpawner));
  // jobs train in this process (embedded queue) or go to BullMQ workers (--redis); see app/src/jobs/compose.ts
  const jobs = settings.jobs ? await composeJobs(settings.jobs, engine, settings.engine) : null;
  const serving = createServing(engine, jobs ? { ...settings.server, jobs: jobs.options } : settings.server);
  let listening: HttpListening;
  try {
    listening = await scope
      .resolve(PORTS.HttpListener)
      .listen(serving.app.fetch, { port: settings.port, hostname: settings.host });
  } catch (error) {
    await jobs?.close();
    await serving.shutdown();
    throw error;
  }
  return {
    url: listening.url,
    port: listening.port,
    async close() {
      await jobs?.close();
      await serving.shutdown();
      await listening.close();
    },
  };
}
