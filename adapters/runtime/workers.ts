import type { PlatformInfo, WorkerPort, WorkerSpawner } from '@peftkit/core';

interface WebWorker {
  postMessage(message: unknown): void;
  addEventListener(type: string, listener: (event: { data?: unknown; message?: string }) => void): void;
  terminate(): void;
}

/**
 * Module workers: Web Workers on Deno and Bun; worker_threads on Node through worker-bootstrap.mjs, which gives the
 * worker the Web Worker globals (self.postMessage, addEventListener('message')) so worker code is runtime-neutral.
 */
export function workerSpawner(platform: PlatformInfo): WorkerSpawner {
  return {
    async spawn(module: URL): Promise<WorkerPort> {
      if (platform.runtime !== 'node') {
        const Worker = (globalThis as unknown as { Worker: new (u: URL, o: { type: 'module' }) => WebWorker }).Worker;
        const worker = new Worker(module, { type: 'module' });
        const exits: ((reason: string) => void)[] = [];
        worker.addEventListener('error', (e) => {
          for (const l of exits.splice(0)) l(e.message ?? 'worker error');
        });
        return {
          post: (m) => worker.postMessage(m),
          onMessage: (listener) => worker.addEventListener('message', (e) => listener(e.data)),
          onExit: (listener) => void exits.push(listener),
          terminate: () => {
            exits.length = 0;
            worker.terminate();
          },
        };
      }
      const { Worker } = await import('node:worker_threads');
      const worker = new Worker(new URL('./worker-bootstrap.mjs', import.meta.url), {
        workerData: { module: module.href },
      });
      worker.unref();
      let exited = false;
      const exits: ((reason: string) => void)[] = [];
      const exit = (reason: string) => {
        if (exited) return;
        exited = true;
        for (const l of exits.splice(0)) l(reason);
      };
      worker.on('error', (e: Error) => exit(e.message));
      worker.on('exit', (code: number) => exit(`worker exited with code ${code}`));
      return {
        post: (m) => worker.postMessage(m),
        onMessage: (listener) => void worker.on('message', listener),
        onExit: (listener) => void exits.push(listener),
        terminate: async () => {
          exited = true;
          await worker.terminate();
        },
      };
    },
  };
}
