import type { Kernel } from '@peftkit/core';

/**
 * Registers method plugins for serving through kernel.importAll (the kernel's one loader: bare names and relative
 * paths resolve from `options.from`, by default the working directory). Unlike the CLI, a plugin that fails to
 * import, validate or find its dependencies is skipped with a warning: the server still serves every method that did.
 */
export async function loadServerPlugins(
  kernel: Kernel,
  specifiers: readonly string[],
  options: { from?: string | URL } = {},
): Promise<string[]> {
  await kernel.importAll(specifiers, {
    ...(options.from !== undefined ? { from: options.from } : {}),
    onError: (specifier, error) =>
      console.warn(`peftkit server: method plugin '${specifier}' not loaded: ${error.message.split('\n')[0]}`),
  });
  return kernel.registry.list().map((p) => p.meta.name);
}
