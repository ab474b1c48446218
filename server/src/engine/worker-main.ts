/**
 * Worker entry: runs a LocalEngine off the HTTP thread. Started by WorkerEngine with the engine options as its first
 * message. Runs as a module Web Worker (Deno, Bun; Node through the adapters' worker bootstrap).
 */
import { LocalEngine, type EngineOptions } from './local.ts';
import type { GenerateHandlers } from './types.ts';
import { ENGINE_RPC, type FromWorker, type Port, type RpcSpec, type ToWorker, toErrorData } from './worker-protocol.ts';

/** The Web Worker globals: native on Deno and Bun, provided on Node by @peftkit/adapters' worker bootstrap. */
function parentPort(): Port {
  const scope = globalThis as unknown as {
    postMessage(m: unknown): void;
    addEventListener(t: 'message', l: (e: { data: unknown }) => void): void;
  };
  return {
    post: (m) => scope.postMessage(m),
    onMessage: (listener) => scope.addEventListener('message', (e) => listener(e.data)),
  };
}

/** Ends this worker like a crash: the Web Worker `close()` (on Node the adapters' bootstrap makes it an exit). */
function exitNow(): void {
  (globalThis as { close?: () => void }).close?.();
}

const port = parentPort();
const send = (message: FromWorker) => port.post(message);
let engine: LocalEngine | null = null;
const cancels = new Map<number, AbortController>();
let statsTimer: ReturnType<typeof setInterval> | null = null;

/**
 * Calls the LocalEngine method the message names (any method of ENGINE_RPC: no per-method code here). A method
 * with a handlers parameter gets a cancellable signal and a token sink that posts token messages.
 */
async function handle(message: ToWorker & { type: 'call' }, current: LocalEngine): Promise<unknown> {
  if (!Object.hasOwn(ENGINE_RPC, message.method)) throw new Error(`not an engine method: ${String(message.method)}`);
  const spec: RpcSpec = ENGINE_RPC[message.method];
  const method = current[message.method] as (...args: unknown[]) => Promise<unknown>;
  const args: unknown[] = [...message.args];
  if (message.method === 'close' && statsTimer) clearInterval(statsTimer);
  if (spec.handlers === undefined) return method.apply(current, args);
  const controller = new AbortController();
  cancels.set(message.id, controller);
  const handlers: GenerateHandlers = {
    signal: controller.signal,
    onToken: (token) => send({ type: 'token', id: message.id, token }),
  };
  args[spec.handlers] = handlers;
  try {
    return await method.apply(current, args);
  } finally {
    cancels.delete(message.id);
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
  if (message.type === 'exit') {
    exitNow();
    return;
  }
  const current = engine;
  if (current === null) return;
  handle(message, current).then(
    (value) => send({ type: 'result', id: message.id, value, stats: current.stats() }),
    (error: unknown) => send({ type: 'error', id: message.id, error: toErrorData(error), stats: current.stats() }),
  );
});
