// The only module that imports tsyringe. tsyringe needs the Reflect metadata polyfill at import time.
import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer, instanceCachingFactory } from 'tsyringe';
import { PeftkitError } from '@peftkit/io';
import type { Token } from './tokens.ts';

/** A DI scope: a tsyringe child container behind typed tokens. One per kernel, one per server request. */
export class Scope {
  readonly #container: DependencyContainer;

  constructor(container: DependencyContainer = rootContainer.createChildContainer()) {
    this.#container = container;
  }

  provideValue<T>(token: Token<T>, value: T): this {
    this.#container.register(token.key, { useValue: value });
    return this;
  }

  /** A factory run once per scope, on first resolve. */
  provideFactory<T>(token: Token<T>, factory: (scope: Scope) => T): this {
    this.#container.register(token.key, { useFactory: instanceCachingFactory(() => factory(this)) });
    return this;
  }

  resolve<T>(token: Token<T>): T {
    if (!this.#container.isRegistered(token.key, true)) {
      throw new PeftkitError('PEFTKIT_E_DI_UNREGISTERED', `nothing is registered for '${token.name}'`, {
        token: token.name,
      });
    }
    return this.#container.resolve<T>(token.key);
  }

  has<T>(token: Token<T>): boolean {
    return this.#container.isRegistered(token.key, true);
  }

  /** A child scope: sees this scope's registrations, may override them locally. */
  child(): Scope {
    return new Scope(this.#container.createChildContainer());
  }

  async dispose(): Promise<void> {
    await this.#container.dispose();
  }
}
