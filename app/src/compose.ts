/**
 * The composition root: the only place that knows every package. It registers the platform adapters of the runtime
 * it runs on for core's ports, then hands the scope to the kernel.
 */
import { registerPlatform } from '@peftkit/adapters';
import { createKernel as createCoreKernel, type Kernel, type KernelOptions, PORTS, Scope } from '@peftkit/core';

let platform: Scope | undefined;

/** The process-wide scope holding this runtime's platform adapters (created once). */
export function platformScope(): Scope {
  platform ??= registerPlatform(new Scope());
  return platform;
}

/** A kernel wired with this runtime's platform adapters (tensor backends, HTTP listener, worker spawner). */
export function createKernel(options: KernelOptions = {}): Promise<Kernel> {
  return createCoreKernel({ scope: platformScope(), ...options });
}

export { PORTS };
