import { PeftkitError } from '@peftkit/core';
import { useMapDataTables } from './dataid-tables.ts';
import { installWasmKernels } from './kernels/install.ts';
import type { BackendOptions, TensorBackendAdapter, Tf } from '@peftkit/core';

/*
 * Threads: not enabled, on purpose. Measured +25-35 % with 2 pthreads, but tfjs 4.22 offers no
 * supported way to get them on Node, Deno or Bun:
 *  - the WASM_HAS_MULTITHREAD_SUPPORT flag returns false whenever IS_NODE (tfjs issue #3830), and
 *    Deno and Bun both count as Node there; setThreadsCount() therefore has no effect.
 *  - overriding that public flag with tf.env().set(...) makes init() load the threaded binary, but
 *    init() hard-codes the pthread worker script as a `blob:` URL (its locateFile ignores
 *    setWasmPaths for '*.worker.js'), and worker_threads.Worker rejects blob: URLs on Node 20, Bun
 *    and Deno (ERR_WORKER_PATH), so tf.setBackend('wasm') resolves false.
 *  - the remaining route is to re-implement tfjs's private init(): deep-import wasm-out/*.js, redo
 *    the cwrap bindings of the C ABI and construct BackendWasm by hand. That is unversioned
 *    internals that the next tfjs release may change, which we rule out.
 * `options.threads` is still forwarded to setThreadsCount(), where tfjs honours it (browsers).
 * test/backends.test.ts asserts the thread count is 1 so a tfjs that starts honouring it gets noticed.
 */

const GIB = 1024 ** 3;

async function importWasm() {
  return import('@tensorflow/tfjs-backend-wasm');
}

let available: Promise<boolean> | undefined;

/** tfjs-backend-wasm registers its factory with priority 2 (WASM_PRIORITY in its base.js). */
const WASM_PRIORITY = 2;
const wrapped = new WeakSet<object>();
const EVENTS = ['uncaughtException', 'unhandledRejection'] as const;
type Listener = (...args: unknown[]) => void;
interface ProcessEvents {
  listeners(event: string): Listener[];
  removeListener(event: string, listener: Listener): unknown;
}

/*
 * Emscripten's Node glue, run when the wasm module is instantiated (tf.setBackend('wasm')), installs
 * process.on('uncaughtException', e => { throw e }) and process.on('unhandledRejection', r => { throw r }). A throw
 * inside such a listener is fatal and Node prints the throw site's source line — the ~30 KB minified bundle — above
 * every later uncaught error of the program. The handlers only serve emscripten's exit(), which tfjs never calls, so
 * the factory is wrapped to remove what it added. The same wrapper gives the new backend (and the engine, while it
 * holds no tensor) Map dataId tables (dataid-tables.ts). Only possible before the backend is first initialised.
 */
function wrapWasmFactory(tf: Tf): void {
  const factory = tf.findBackendFactory('wasm');
  const proc = (globalThis as { process?: Partial<ProcessEvents> }).process as ProcessEvents | undefined;
  if (
    factory == null ||
    wrapped.has(factory) ||
    tf.findBackend('wasm') != null ||
    typeof proc?.listeners !== 'function'
  )
    return;
  const silenced = async () => {
    const before = new Map(EVENTS.map((event) => [event, new Set(proc.listeners(event))]));
    try {
      const backend = await factory();
      useMapDataTables(tf.engine(), backend);
      return backend;
    } finally {
      for (const event of EVENTS)
        for (const listener of proc.listeners(event))
          if (!before.get(event)?.has(listener)) proc.removeListener(event, listener);
    }
  };
  wrapped.add(silenced);
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', silenced, WASM_PRIORITY);
}

export const wasmBackend: TensorBackendAdapter = {
  name: 'wasm',
  priority: 200,
  limits:
    `wasm32 heap: hard ceiling ${(4294901760 / GIB).toFixed(2)} GiB; it grows on demand and never shrinks, ` +
    'so the peak stays reserved until the process exits. float32 only. XNNPACK keeps a packed copy of every ' +
    'right-hand matmul operand while it lives (+4 B per weight). Full fine-tuning with Adam: 4 (param) + 4 (grad) + ' +
    '8 (moments) + 4 (packed) = 20 B/param, so at most ~200M params, less activations. LoRA on a frozen base: ' +
    '~8 B per base param, so a base of up to ~400M params leaves ~0.8 GiB for activations and adapters. ' +
    'Single-threaded on Node, Deno and Bun (tfjs disables wasm threads there).',
  isAvailable() {
    available ??= (async () => {
      if (typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== 'object') return false;
      try {
        await importWasm();
        return true;
      } catch {
        return false;
      }
    })();
    return available;
  },
  async register(tf: Tf, options: BackendOptions) {
    let wasm: Awaited<ReturnType<typeof importWasm>>;
    try {
      wasm = await importWasm();
    } catch (cause) {
      throw new PeftkitError(
        'PEFTKIT_E_BACKEND_INIT',
        'cannot import @tensorflow/tfjs-backend-wasm',
        { backend: 'wasm' },
        { cause },
      );
    }
    if (tf.findBackendFactory('wasm') == null) {
      throw new PeftkitError(
        'PEFTKIT_E_BACKEND_INIT',
        'tfjs-backend-wasm did not register with this tfjs-core instance',
        { backend: 'wasm' },
      );
    }
    // Only effective before the backend is first initialised, and only where tfjs allows threads.
    if (options.threads !== undefined && options.threads > 0 && tf.findBackend('wasm') == null)
      wasm.setThreadsCount(options.threads);
    wrapWasmFactory(tf);
    installWasmKernels(tf);
  },
};
