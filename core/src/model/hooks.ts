import { PeftkitError } from '@peftkit/io';

/** Per-adapter hooks of one site. One hook per adapter name; attaching twice is a bug in the caller. */
export class HookTable<H> {
  readonly #hooks = new Map<string, H>();
  readonly #owner: string;

  constructor(owner: string) {
    this.#owner = owner;
  }

  attach(adapter: string, hook: H): void {
    if (this.#hooks.has(adapter)) {
      throw new PeftkitError('PEFTKIT_E_ADAPTER_EXISTS', `adapter '${adapter}' already has a hook on '${this.#owner}'`, {
        adapter,
        site: this.#owner,
      });
    }
    this.#hooks.set(adapter, hook);
  }

  detach(adapter: string): H | undefined {
    const hook = this.#hooks.get(adapter);
    this.#hooks.delete(adapter);
    return hook;
  }

  get(adapter: string): H | undefined {
    return this.#hooks.get(adapter);
  }

  has(adapter: string): boolean {
    return this.#hooks.has(adapter);
  }

  get size(): number {
    return this.#hooks.size;
  }

  adapters(): string[] {
    return [...this.#hooks.keys()];
  }
}
