import type { Tensor2D, Variable } from '@tensorflow/tfjs-core';
import type { Tf } from '../runtime/types.ts';
import type { EmbeddingSite, ModelDims, PrefixHook, PromptHook, Site, SiteHook } from './graph.ts';
import { HookTable } from './hooks.ts';

/**
 * What every model on the seam shares: its named sites, prompt and prefix hook tables, the base parameters it owns
 * (freed by `dispose`), and token-embedding lookup. Architectures subclass it and register sites as they build.
 */
export abstract class SiteGraph {
  readonly prompts: HookTable<PromptHook> = new HookTable<PromptHook>('prompts');
  readonly prefixes: HookTable<PrefixHook> = new HookTable<PrefixHook>('prefixes');
  /** Names of the adapters its AdapterManager holds (some, like full fine-tuning, attach no hooks). */
  adapterNames: Set<string> | undefined = undefined;
  /** The tensor runtime the model's weights live in (generation runs its sampling ops there). */
  readonly tf: Tf;
  readonly #sites = new Map<string, Site>();
  #params = new Map<string, Variable>();

  constructor(tf: Tf) {
    this.tf = tf;
  }

  /** The parsed config.json of the architecture; every one carries the model's dimensions. */
  abstract readonly config: { readonly dims: ModelDims };

  /** The token-embedding matrix [vocab, hidden] `embed` reads. */
  protected abstract get tokenEmbedding(): Variable;

  get dims(): ModelDims {
    return this.config.dims;
  }

  protected addSite<S extends Site>(site: S): S {
    this.#sites.set(site.name, site);
    return site;
  }

  /** Takes ownership of the base parameters (by Hugging Face name). */
  protected adoptParameters(params: Map<string, Variable>): void {
    this.#params = params;
  }

  /**
   * True when a forward call may select `name`: the manager holds it or some hook is attached under it. Anything
   * else (a typo, an adapter already deleted) is an error rather than a silent run of the base model.
   */
  readonly hasAdapter = (name: string): boolean => {
    if (this.adapterNames?.has(name) || this.prompts.has(name) || this.prefixes.has(name)) return true;
    for (const site of this.#sites.values()) if (site.hooks.has(name)) return true;
    return false;
  };

  site(name: string): Site | undefined {
    return this.#sites.get(name);
  }

  sites(): Iterable<Site> {
    return this.#sites.values();
  }

  /**
   * Live parameters only: a weight freed after its site's base was swapped (QLoRA's packed base) is no longer listed.
   */
  parameters(): Map<string, Variable> {
    return new Map([...this.#params].filter(([, v]) => !v.isDisposed));
  }

  embed(ids: readonly number[]): Tensor2D {
    const tf = this.tf;
    return tf.tidy(() => tf.gather(this.tokenEmbedding, tf.tensor1d(ids as number[], 'int32')) as Tensor2D);
  }

  dispose(): void {
    for (const v of this.#params.values()) v.dispose();
    this.#params.clear();
  }
}

/** An embedding site over a [rows, dim] weight. */
export function createEmbeddingSite(name: string, weight: Variable): EmbeddingSite {
  const [rows, dim] = weight.shape as [number, number];
  return {
    kind: 'embedding',
    name,
    layer: null,
    numEmbeddings: rows,
    dim,
    weight,
    hooks: new HookTable<SiteHook>(name),
  };
}
