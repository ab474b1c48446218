import type { Tensor, Tensor2D, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import {
  type LayerPrefix,
  type SequenceLayout,
  checkPositions,
  commitCache,
  multiHeadAttention,
  prepareSequence,
  tokenTypesOf,
} from './attention.ts';
import {
  type ForwardInput,
  type ForwardOptions,
  lastRealIndex,
  selectLastPosition,
  validateInput,
} from '@peftkit/core';
import { type Gpt2Config, activate, labelsFromConfig, parseGpt2Config } from './gpt2-config.ts';
import type {
  BlockSite,
  EmbeddingSite,
  ForwardCall,
  LinearSite,
  ModelGraph,
  ModelTask,
  NormSite,
  SiteHook,
} from '@peftkit/core';
import { createNormSite, runNorm } from '@peftkit/core';
import { HookTable } from '@peftkit/core';
import { createEmbeddingSite, SiteGraph } from '@peftkit/core';
import { KvCache } from '@peftkit/core';
import { DenseLinearBase, runLinear } from '@peftkit/core';
import { createLinearSite } from '@peftkit/core';
import { applyHooks, resolveSelection } from '@peftkit/core';
import { type WeightSource, WeightLoader } from '@peftkit/core';

interface Gpt2Layer {
  ln1: NormSite;
  cAttn: LinearSite;
  attnProj: LinearSite;
  attnBlock: BlockSite;
  ln2: NormSite;
  fc: LinearSite;
  mlpProj: LinearSite;
  mlpBlock: BlockSite;
}

export interface Gpt2Options {
  task?: ModelTask;
  /** Labels for sequence classification (default: the config's id2label / num_labels). */
  labels?: readonly string[];
}

/**
 * GPT-2 (GPT2LMHeadModel / GPT2ForSequenceClassification) on the model-graph seam, with Hugging Face module
 * names. Linear layers are Conv1D, stored [in, out]; their sites say so with layout 'in_out'.
 * Position ids come from the attention mask (as HF's generate computes them), so left padding changes nothing;
 * a plain HF forward without position_ids would use arange instead. No base-model dropout is applied.
 */
export class Gpt2Model extends SiteGraph implements ModelGraph {
  readonly arch = 'gpt2';
  readonly task: ModelTask;
  readonly config: Gpt2Config;
  readonly labels: readonly string[] | null;
  readonly #wte: EmbeddingSite;
  readonly #wpe: EmbeddingSite;
  readonly #layers: Gpt2Layer[] = [];
  readonly #lnF: NormSite;
  readonly #head: LinearSite;

  constructor(tf: Tf, configJson: unknown, weights: WeightSource, options: Gpt2Options = {}) {
    super(tf);
    this.config = parseGpt2Config(configJson);
    this.task = options.task ?? 'causal-lm';
    this.labels = this.task === 'seq-cls' ? (options.labels ?? labelsFromConfig(this.config.json)) : null;
    const { hiddenSize: d, numLayers, vocabSize, intermediateSize, maxPositions } = this.config.dims;
    const loader = new WeightLoader(tf, weights);
    try {
      const embedding = (name: string, rows: number): EmbeddingSite =>
        this.addSite(createEmbeddingSite(name, loader.take(`${name}.weight`, [rows, d])));
      const norm = (name: string, layer: number | null): NormSite =>
        this.addSite(
          createNormSite(name, {
            layer,
            normKind: 'layer',
            eps: this.config.layerNormEps,
            ...loader.takeLayerNorm(name, d),
          }),
        );
      // Conv1D: y = x·W + b with W stored [in, out].
      const conv = (name: string, inp: number, out: number, layer: number): LinearSite => {
        const w = loader.take(`${name}.weight`, [inp, out]);
        const b = loader.take(`${name}.bias`, [out], 'zeros');
        return this.addSite(
          createLinearSite(name, new DenseLinearBase(tf, w, 'in_out', b), { layer, layout: 'in_out' }),
        );
      };
      const block = (name: string, layer: number, role: 'attention' | 'mlp'): BlockSite =>
        this.addSite({ kind: 'block', name, layer, role, dim: d, hooks: new HookTable<SiteHook>(name) });
      this.#wte = embedding('transformer.wte', vocabSize);
      this.#wpe = embedding('transformer.wpe', maxPositions);
      for (let i = 0; i < numLayers; i++) {
        const p = `transformer.h.${i}`;
        this.#layers.push({
          ln1: norm(`${p}.ln_1`, i),
          cAttn: conv(`${p}.attn.c_attn`, d, 3 * d, i),
          attnProj: conv(`${p}.attn.c_proj`, d, d, i),
          attnBlock: block(`${p}.attn`, i, 'attention'),
          ln2: norm(`${p}.ln_2`, i),
          fc: conv(`${p}.mlp.c_fc`, d, intermediateSize, i),
          mlpProj: conv(`${p}.mlp.c_proj`, intermediateSize, d, i),
          mlpBlock: block(`${p}.mlp`, i, 'mlp'),
        });
      }
      this.#lnF = norm('transformer.ln_f', null);
      const head = (name: string, weight: Variable) =>
        this.addSite(
          createLinearSite(name, new DenseLinearBase(tf, weight, 'out_in', null), {
            layer: null,
            layout: 'out_in',
            isHead: true,
          }),
        );
      if (this.task === 'seq-cls')
        this.#head = head('score', loader.take('score.weight', [this.labels?.length ?? 2, d]));
      // The tied head shares the wte variable; it is not a separate parameter (and is not saved, as in HF).
      else
        this.#head = head(
          'lm_head',
          this.config.tieWordEmbeddings ? this.#wte.weight : loader.take('lm_head.weight', [vocabSize, d]),
        );
    } catch (error) {
      loader.disposeAll();
      throw error;
    }
    this.adoptParameters(loader.created);
  }

  protected get tokenEmbedding(): Variable {
    return this.#wte.weight;
  }

  createCache(): KvCache {
    return new KvCache(this.tf, this.config.dims.numLayers);
  }

  /** Logits [batch, seq, vocab] of the real tokens (virtual tokens of prompt methods are not returned). */
  forward(input: ForwardInput, options: ForwardOptions = {}): Tensor3D {
    const tf = this.tf;
    return tf.tidy(() => {
      const { hidden, call } = this.#hidden(input, options);
      return this.#project(selectLastPosition(tf, hidden, options), call);
    });
  }

  /** Sequence-classification logits [batch, labels], pooled at each row's last real token (as HF). */
  classify(input: ForwardInput, options: ForwardOptions = {}): Tensor2D {
    const tf = this.tf;
    return tf.tidy(() => {
      const { hidden, mask, call } = this.#hidden(input, options);
      const [batch, seq, d] = hidden.shape;
      const index = tf.tensor1d(
        lastRealIndex(mask).map((i, b) => b * seq + i),
        'int32',
      );
      const pooled = tf.reshape(tf.gather(tf.reshape(hidden, [batch * seq, d]), index), [batch, 1, d]) as Tensor3D;
      return tf.reshape(this.#project(pooled, call), [batch, -1]) as Tensor2D;
    });
  }

  /**
   * The head, under the call #hidden resolved (the selection is resolved once per forward; pooling keeps the batch).
   */
  #project(hidden: Tensor3D, call: ForwardCall): Tensor3D {
    return runLinear(this.tf, this.#head, hidden, call);
  }

  #call(batch: number, options: ForwardOptions): ForwardCall {
    return {
      groups: resolveSelection(options.selection, batch, this.hasAdapter),
      batchSize: batch,
      training: options.training ?? false,
      rng: options.rng ?? null,
      memo: options.cache?.memo ?? null,
    };
  }

  /** Final-norm hidden states of the real tokens. Runs inside the caller's tidy. */
  #hidden(input: ForwardInput, options: ForwardOptions): { hidden: Tensor3D; mask: number[][]; call: ForwardCall } {
    const tf = this.tf;
    const { dims } = this.config;
    const { batch, seq, mask } = validateInput(input, dims.vocabSize);
    const call = this.#call(batch, options);
    const cache = options.cache;
    const lookup = (site: EmbeddingSite, ids: Tensor) =>
      applyHooks(tf, site.hooks, ids, tf.gather(site.weight, ids) as Tensor3D, call);

    const ids = tf.tensor2d(input.ids as number[][], undefined, 'int32');
    const layout = prepareSequence(tf, {
      embeddings: lookup(this.#wte, ids),
      mask,
      prompts: this.prompts,
      prefixes: this.prefixes,
      call,
      dims,
      cache,
      causal: true,
    });
    // Learned positions are added after the virtual tokens are prepended, so they get positions too (as in PEFT).
    checkPositions(layout.positions, dims.maxPositions);
    let h = tf.add(layout.hidden, lookup(this.#wpe, tf.tensor2d(layout.positions, undefined, 'int32'))) as Tensor3D;
    if (input.tokenTypes !== undefined) {
      // HF adds wte(token_type_ids); PEFT gives virtual tokens type 0.
      const types = tokenTypesOf(input.tokenTypes, batch, seq, dims.vocabSize).map((row) => [
        ...new Array<number>(layout.virtualCount).fill(0),
        ...row,
      ]);
      h = tf.add(h, lookup(this.#wte, tf.tensor2d(types, undefined, 'int32')));
    }

    for (const [i, layer] of this.#layers.entries()) {
      const x = runNorm(tf, layer.ln1, h, call);
      const attn = this.#attention(i, layer, x, layout, call, cache);
      h = tf.add(h, applyHooks(tf, layer.attnBlock.hooks, h, attn, call));
      const y = runNorm(tf, layer.ln2, h, call);
      const mlp = runLinear(
        tf,
        layer.mlpProj,
        activate(tf, runLinear(tf, layer.fc, y, call), this.config.activation) as Tensor3D,
        call,
      );
      h = tf.add(h, applyHooks(tf, layer.mlpBlock.hooks, h, mlp, call));
    }
    commitCache(cache, layout);
    h = runNorm(tf, this.#lnF, h, call);
    if (layout.virtualCount > 0) h = tf.slice(h, [0, layout.virtualCount, 0], [-1, -1, -1]);
    return { hidden: h, mask, call };
  }

  #attention(
    index: number,
    layer: Gpt2Layer,
    x: Tensor3D,
    layout: SequenceLayout,
    call: ForwardCall,
    cache: KvCache | undefined,
  ): Tensor3D {
    const tf = this.tf;
    const { numHeads, headDim, hiddenSize } = this.config.dims;
    const [batch, seq] = x.shape;
    // c_attn projects to [q | k | v] along the feature axis.
    const qkv = tf.split(runLinear(tf, layer.cAttn, x, call), [hiddenSize, hiddenSize, hiddenSize], 2);
    const [q, k, v] = qkv.map((t) => tf.reshape(t, [batch, seq, numHeads, headDim]) as Tensor4D) as [
      Tensor4D,
      Tensor4D,
      Tensor4D,
    ];
    const prefix: LayerPrefix | null = layout.prefixes[index] ?? null;
    const merged = multiHeadAttention(tf, {
      q,
      k,
      v,
      mask: layout.additiveMask,
      prefix,
      cache,
      layer: index,
      scale: this.config.attentionScale(index),
    });
    return runLinear(tf, layer.attnProj, merged, call);
  }
}
