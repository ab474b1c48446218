import { type Kernel, type Logger, PeftkitError } from '@peftkit/core';

/** Builds the engine's kernel with platform adapters and method plugins: the application's job, never the server's. */
export type EngineKernelFactory = (options: {
  backend?: string;
  plugins?: readonly string[];
  logger: Logger;
}) => Promise<Kernel>;

/**
 * The kernel factory: the one given (in-process), else the `createEngineKernel` export of `options.composition`, a
 * module URL — the only form that reaches a worker, since functions cannot be posted to one.
 */
export async function engineKernelFactory(
  composition: string | undefined,
  given?: EngineKernelFactory,
): Promise<EngineKernelFactory> {
  if (given) return given;
  if (composition === undefined) {
    throw new PeftkitError(
      'PEFTKIT_E_ENGINE_COMPOSITION',
      'the engine needs a kernel factory: pass createEngineKernel, or EngineOptions.composition (a module URL ' +
        "exporting it); 'peftkit' supplies both",
      {},
    );
  }
  let mod: { createEngineKernel?: unknown };
  try {
    mod = (await import(composition)) as { createEngineKernel?: unknown };
  } catch (error) {
    throw new PeftkitError(
      'PEFTKIT_E_ENGINE_COMPOSITION',
      `cannot import the engine composition '${composition}': ${String(error)}`,
      { composition },
      { cause: error },
    );
  }
  if (typeof mod.createEngineKernel !== 'function') {
    throw new PeftkitError('PEFTKIT_E_ENGINE_COMPOSITION', `'${composition}' exports no createEngineKernel function`, {
      composition,
    });
  }
  return mod.createEngineKernel as EngineKernelFactory;
}
