import { AdapterManager } from './adapter/manager.ts';
import { PORTS } from './di/ports.ts';
import { Scope } from './di/scope.ts';
import { TOKENS } from './di/tokens.ts';
import type { ModelGraph } from './model/graph.ts';
import type { Logger, MethodContext, MethodPlugin } from './plugin/contract.ts';
import { importPlugin, importPlugins, type PluginImportAllOptions, type PluginImportOptions } from './plugin/loader.ts';
import { PluginRegistry } from './plugin/registry.ts';
import { createTensorRuntime, type TensorRuntime, type TensorRuntimeOptions } from './runtime/runtime.ts';
import type { Tf } from './runtime/types.ts';

export interface KernelOptions extends TensorRuntimeOptions {
  /**
   * The composition root's scope, holding the platform adapters registered for the ports (PORTS). The kernel's own
   * scope is a child of it. Without one, `backends` must be given.
   */
  scope?: Scope;
  /** Method plugins to register at boot, in dependency order. */
  plugins?: readonly unknown[];
  logger?: Logger;
  /** Default seed for adapter initialisation. */
  seed?: number;
}

export interface Kernel {
  readonly tf: Tf;
  readonly backend: string;
  readonly registry: PluginRegistry;
  /** The kernel's DI scope: a child of the composition root's platform scope (when given). */
  readonly scope: Scope;
  /** Registers a method plugin object (validated). */
  use(plugin: unknown): Kernel;
  /**
   * Imports a package name or file path and registers its default export (or `plugin` export). Bare names and
   * relative paths resolve from `options.from`, by default the current working directory (the user's project).
   */
  import(specifier: string, options?: PluginImportOptions): Promise<MethodPlugin>;
  /** Imports several plugins and registers them dependencies first (see PluginImportAllOptions.onError). */
  importAll(specifiers: readonly string[], options?: PluginImportAllOptions): Promise<MethodPlugin[]>;
  /** The adapter manager of a model (one per model). */
  adapters(model: ModelGraph, options?: { tokenizer?: MethodContext['tokenizer']; baseModel?: string }): AdapterManager;
  dispose(): Promise<void>;
}

const consoleLogger: Logger = {
  warn: (message) => console.warn(`[peftkit] ${message}`),
  info: (message) => console.error(`[peftkit] ${message}`),
};

/**
 * Creates a kernel: a DI scope under the composition root's (whose platform adapters fill the ports), the tensor
 * runtime on the backends resolved from it, the plugin registry, and the boot plugins.
 */
export async function createKernel(options: KernelOptions = {}): Promise<Kernel> {
  const scope = options.scope?.child() ?? new Scope();
  const backends =
    options.backends ?? (scope.has(PORTS.TensorBackends) ? scope.resolve(PORTS.TensorBackends) : undefined);
  const runtime = await createTensorRuntime(backends === undefined ? options : { ...options, backends });
  const log = options.logger ?? consoleLogger;
  scope.provideValue<TensorRuntime>(TOKENS.TensorRuntime, runtime);
  scope.provideValue(TOKENS.Logger, log);
  scope.provideValue(TOKENS.Settings, { seed: options.seed ?? 0, backend: runtime.backend });
  scope.provideFactory(TOKENS.PluginRegistry, () => new PluginRegistry());

  const registry = scope.resolve(TOKENS.PluginRegistry);
  const managers = new WeakMap<ModelGraph, AdapterManager>();
  const kernel: Kernel = {
    tf: runtime.tf,
    backend: runtime.backend,
    registry,
    scope,
    use(plugin) {
      registry.register(plugin);
      return kernel;
    },
    async import(specifier, importOptions = {}) {
      return registry.register(await importPlugin(specifier, importOptions), specifier);
    },
    importAll(specifiers, importOptions = {}) {
      return importPlugins(specifiers, importOptions, registry);
    },
    adapters(model, managerOptions = {}) {
      let manager = managers.get(model);
      if (manager === undefined) {
        const settings = scope.resolve(TOKENS.Settings);
        manager = new AdapterManager(runtime.tf, model, registry, { log, seed: settings.seed, ...managerOptions });
        managers.set(model, manager);
      }
      return manager;
    },
    async dispose() {
      await scope.dispose();
    },
  };
  for (const plugin of options.plugins ?? []) kernel.use(plugin);
  return kernel;
}
