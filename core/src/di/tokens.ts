import type { Logger } from '../plugin/contract.ts';
import type { PluginRegistry } from '../plugin/registry.ts';
import type { TensorRuntime } from '../runtime/runtime.ts';

/** A typed DI token: the symbol tsyringe sees plus a phantom type for `resolve`. */
export interface Token<T> {
  readonly key: symbol;
  readonly name: string;
  /** Phantom field carrying T; never set. */
  readonly type?: T;
}

export function token<T>(name: string): Token<T> {
  return { key: Symbol.for(`peftkit:${name}`), name };
}

export interface KernelSettings {
  readonly seed: number;
  readonly backend: string;
}

/** Every service the core registers. Plugins never see these: they get a MethodContext. */
export const TOKENS = {
  TensorRuntime: token<TensorRuntime>('TensorRuntime'),
  PluginRegistry: token<PluginRegistry>('PluginRegistry'),
  Logger: token<Logger>('Logger'),
  Settings: token<KernelSettings>('Settings'),
} as const;
