/**
 * Worker entry: runs a LocalEngine off the HTTP thread. Started by WorkerEngine with the engine options as its first
 * message. Runs as a module Web Worker (Deno, Bun; Node through the adapters' worker bootstrap).
 */
import { LocalEngine, type EngineOptions } from './local.ts';
import { type FromWorker, type Port, type ToWorker, toErrorData } from './worker-protocol.ts';

/** The Web Worker globals: native on Deno and Bun, provided on Node by @peftkit/adapters' worker bootstrap. */
function parentPort(): Port {
  const scope = globalThis as unknown as {
    postMessage(m: unknown): void;
    addEventListener(t: 'message', l: (e: { data: unknown }) => void): void;
  };
  return { post: (m) => scope.postMessage(m), onMessage: (listener) => scope.addEventListener('message', (e) => listener(e.data)) };
}

const port = parentPort();
const send = (message: FromWorker) => port.post(message);
let engine: LocalEngine | null = null;
const cancels = new Map<number, AbortController>();
let statsTimer: ReturnType<typeof setInterval> | null = null;

async function handle(message: ToWorker & { type: 'call' }, current: LocalEngine): Promise<unknown> {
  const a = message.args;
  switch (message.method) {
    case 'info':
      return current.info();
    case 'generate': {
      const controller = new AbortController();
      cancels.set(message.id, controller);
      try {
        return await current.generate(a[0] as never, {
          signal: controller.signal,
          onToken: (token) => send({ type: 'token', id: message.id, token }),
        });
      } finally {
        cancels.delete(message.id);
      }
    }
    case 'classify':
      return current.classify(a[0] as never);
    case 'loadAdapter':
      return current.loadAdapter(a[0] as string, a[1] as never);
    case 'unloadAdapter':
      return current.unloadAdapter(a[0] as string);
    case 'listAdapters':
      return current.listAdapters();
    case 'close':
      if (statsTimer) clearInterval(statsTimer);
      return current.close();
  }
}

port.onMessage((raw) => {
  const message = raw as ToWorker | { type: 'init'; options: EngineOptions };
  if (message.type === 'init') {
    LocalEngine.create(message.options).then(
      (created) => {
        engine = created;
        // Keep the HTTP thread's snapshot fresh while long batches run (the loop yields between steps).
        statsTimer = setInterval(() => engine && send({ type: 'stats', stats: engine.stats() }), 100);
        send({ type: 'ready', stats: created.stats() });
      },
      (error: unknown) => send({ type: 'failed', error: toErrorData(error) }),
    );
    return;
  }
  if (message.type === 'cancel') {
    cancels.get(message.id)?.abort();
    return;
  }
  const current = engine;
  if (current === null) return;
  handle(message, current).then(
    (value) => send({ type: 'result', id: message.id, value, stats: current.stats() }),
    (error: unknown) => send({ type: 'error', id: message.id, error: toErrorData(error), stats: current.stats() }),
  );
});
