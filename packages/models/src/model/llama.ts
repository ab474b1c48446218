import type { Tensor, Tensor2D, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import { commitCache, multiHeadAttention, prepareSequence } from './attention.ts';
import {
  type ForwardInput,
  type ForwardOptions,
  lastRealIndex,
  selectLastPosition,
  validateInput,
} from '@peftkit/core';
import type {
  BlockSite,
  EmbeddingSite,
  ForwardCall,
  LinearBaseFactory,
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
import { type LlamaConfig, parseLlamaConfig } from './llama-config.ts';
import { swiGlu } from './swiglu.ts';
import { ropeTables, applyRope } from './rope.ts';
import { applyHooks, resolveSelection } from '@peftkit/core';
import { type WeightSource, WeightLoader } from '@peftkit/core';

interface LlamaLayer {
  inputNorm: NormSite;
  postNorm: NormSite;
  q: LinearSite;
  k: LinearSite;
  v: LinearSite;
  o: LinearSite;
  gate: LinearSite;
  up: LinearSite;
  down: LinearSite;
  attnBlock: BlockSite;
  mlpBlock: BlockSite;
}

export interface LlamaOptions {
  task?: ModelTask;
  /** Labels for sequence classification (the `score` head is created, or read from the checkpoint). */
  labels?: readonly string[];
  /** Builds non-head linear bases from host weights at load time (e.g. quantized); default dense. */
  linearBase?: LinearBaseFactory;
}

/** Llama-family decoder (Llama, Mistral, Qwen2, SmolLM, TinyLlama) on the model-graph seam, with HF module names. */
export class LlamaModel extends SiteGraph implements ModelGraph {
  readonly arch: string;
  readonly task: ModelTask;
  readonly config: LlamaConfig;
  readonly labels: readonly string[] | null;
  readonly #embed: EmbeddingSite;
  readonly #layers: LlamaLayer[] = [];
  readonly #norm: NormSite;
  readonly #head: LinearSite;

  constructor(tf: Tf, configJson: unknown, weights: WeightSource, options: LlamaOptions = {}) {
    super(tf);
    this.config = parseLlamaConfig(configJson);
    this.arch = this.config.json.model_type;
    this.task = options.task ?? 'causal-lm';
    this.labels = this.task === 'seq-cls' ? (options.labels ?? ['LABEL_0', 'LABEL_1']) : null;
    const { hiddenSize: d, numLayers, numHeads, numKvHeads, headDim, vocabSize, intermediateSize } = this.config.dims;
    const loader = new WeightLoader(tf, weights);
    try {
      const embedWeight = loader.take('model.embed_tokens.weight', [vocabSize, d]);
      this.#embed = this.addSite(createEmbeddingSite('model.embed_tokens', embedWeight));
      const linear = (name: string, out: number, inp: number, layer: number | null, bias: boolean): LinearSite => {
        const host = loader.takeHost(`${name}.weight`, [out, inp]);
        const b = bias ? loader.take(`${name}.bias`, [out], 'zeros') : null;
        const base =
          options.linearBase?.({ name, layer }, host, [out, inp], b) ??
          new DenseLinearBase(tf, loader.variableFrom(`${name}.weight`, host, [out, inp]), 'out_in', b);
        return this.addSite(createLinearSite(name, base, { layer, layout: 'out_in' }));
      };
      const norm = (name: string, layer: number | null): NormSite =>
        this.addSite(
          createNormSite(name, {
            layer,
            normKind: 'rms',
            eps: this.config.rmsNormEps,
            weight: loader.take(`${name}.weight`, [d], 'ones'),
          }),
        );
      for (let i = 0; i < numLayers; i++) {
        const p = `model.layers.${i}`;
        const c = this.config;
        this.#layers.push({
          inputNorm: norm(`${p}.input_layernorm`, i),
          q: linear(`${p}.self_attn.q_proj`, numHeads * headDim, d, i, c.qkvBias),
          k: linear(`${p}.self_attn.k_proj`, numKvHeads * headDim, d, i, c.qkvBias),
          v: linear(`${p}.self_attn.v_proj`, numKvHeads * headDim, d, i, c.qkvBias),
          o: linear(`${p}.self_attn.o_proj`, d, numHeads * headDim, i, c.outputBias),
          attnBlock: this.addSite({
            kind: 'block',
            name: `${p}.self_attn`,
            layer: i,
            role: 'attention',
            dim: d,
            hooks: new HookTable<SiteHook>(`${p}.self_attn`),
          }),
          postNorm: norm(`${p}.post_attention_layernorm`, i),
          gate: linear(`${p}.mlp.gate_proj`, intermediateSize, d, i, c.mlpBias),
          up: linear(`${p}.mlp.up_proj`, intermediateSize, d, i, c.mlpBias),
          down: linear(`${p}.mlp.down_proj`, d, intermediateSize, i, c.mlpBias),
          mlpBlock: this.addSite({
            kind: 'block',
            name: `${p}.mlp`,
            layer: i,
            role: 'mlp',
            dim: d,
            hooks: new HookTable<SiteHook>(`${p}.mlp`),
          }),
        });
      }
      this.#norm = norm('model.norm', null);
      if (this.task === 'seq-cls') {
        const labels = this.labels?.length ?? 2;
        this.#head = this.addSite(
          createLinearSite('score', new DenseLinearBase(tf, loader.take('score.weight', [labels, d]), 'out_in', null), {
            layer: null,
            layout: 'out_in',
            isHead: true,
          }),
        );
      } else if (this.config.tieWordEmbeddings) {
        // The tied head shares the embedding variable; it is not a separate parameter.
        this.#head = this.addSite(
          createLinearSite('lm_head', new DenseLinearBase(tf, embedWeight, 'out_in', null), {
            layer: null,
            layout: 'out_in',
            isHead: true,
          }),
        );
      } else {
        this.#head = this.addSite(
          createLinearSite(
            'lm_head',
            new DenseLinearBase(tf, loader.take('lm_head.weight', [vocabSize, d]), 'out_in', null),
            {
              layer: null,
              layout: 'out_in',
              isHead: true,
            },
          ),
        );
      }
    } catch (error) {
      loader.disposeAll();
      throw error;
    }
    this.adoptParameters(loader.created);
  }

  protected get tokenEmbedding(): Variable {
    return this.#embed.weight;
  }

  createCache(): KvCache {
    return new KvCache(this.tf, this.config.dims.numLayers);
  }

  /** Logits [batch, seq, vocab] of the real tokens (virtual tokens of prompt methods are not returned). */
  forward(input: ForwardInput, options: ForwardOptions = {}): Tensor3D {
    const tf = this.tf;
    return tf.tidy(() => {
      const { hidden, call } = this.#hidden(input, options);
      return this.#project(selectLastPosition(tf, hidden, options), call) as Tensor3D;
    });
  }

  /** Sequence-classification logits [batch, labels], pooled at each row's last real token. */
  classify(input: ForwardInput, options: ForwardOptions = {}): Tensor2D {
    const tf = this.tf;
    return tf.tidy(() => {
      const { hidden, mask, call } = this.#hidden(input, options);
      const [batch, seq, d] = hidden.shape;
      const flat = tf.reshape(hidden, [batch * seq, d]);
      const index = tf.tensor1d(
        lastRealIndex(mask).map((i, b) => b * seq + i),
        'int32',
      );
      const pooled = tf.reshape(tf.gather(flat, index), [batch, 1, d]) as Tensor3D;
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
    const { dims, ropeTheta } = this.config;
    const { batch, mask } = validateInput(input, dims.vocabSize);
    const call = this.#call(batch, options);
    const cache = options.cache;

    const ids = tf.tensor2d(input.ids as number[][], undefined, 'int32');
    let h = tf.gather(this.#embed.weight, ids) as Tensor3D;
    h = applyHooks(tf, this.#embed.hooks, ids, h, call);

    const layout = prepareSequence(tf, {
      embeddings: h,
      mask,
      prompts: this.prompts,
      prefixes: this.prefixes,
      call,
      dims,
      cache,
      causal: true,
    });
    const { prefixes, virtualCount, additiveMask } = layout;
    h = layout.hidden;
    const { cos, sin } = ropeTables(tf, layout.positions, dims.headDim, ropeTheta);

    for (const [i, layer] of this.#layers.entries()) {
      const x = runNorm(tf, layer.inputNorm, h, call);
      const attn = this.#attention(i, layer, x, cos, sin, additiveMask, prefixes[i] ?? null, cache, call);
      h = tf.add(h, applyHooks(tf, layer.attnBlock.hooks, h, attn, call));
      const y = runNorm(tf, layer.postNorm, h, call);
      const act = swiGlu(tf, runLinear(tf, layer.gate, y, call), runLinear(tf, layer.up, y, call)) as Tensor3D;
      const mlp = runLinear(tf, layer.down, act, call);
      h = tf.add(h, applyHooks(tf, layer.mlpBlock.hooks, h, mlp, call));
    }
    commitCache(cache, layout);
    h = runNorm(tf, this.#norm, h, call);
    if (virtualCount > 0) h = tf.slice(h, [0, virtualCount, 0], [-1, -1, -1]);
    return { hidden: h, mask, call };
  }

  #attention(
    index: number,
    layer: LlamaLayer,
    x: Tensor3D,
    cos: Tensor4D,
    sin: Tensor4D,
    mask: Tensor,
    prefix: { key: Tensor4D; value: Tensor4D } | null,
    cache: KvCache | undefined,
    call: ForwardCall,
  ): Tensor3D {
    const tf = this.tf;
    const { numHeads, numKvHeads, headDim } = this.config.dims;
    const [batch, seq] = x.shape;
    const heads = (site: LinearSite, n: number) =>
      tf.reshape(runLinear(tf, site, x, call), [batch, seq, n, headDim]) as Tensor4D;
    const q = applyRope(tf, heads(layer.q, numHeads), cos, sin);
    const k = applyRope(tf, heads(layer.k, numKvHeads), cos, sin);
    const v = heads(layer.v, numKvHeads);
    const merged = multiHeadAttention(tf, {
      q,
      k,
      v,
      mask,
      prefix,
      cache,
      layer: index,
      scale: 1 / Math.sqrt(headDim),
    });
    return runLinear(tf, layer.o, merged, call);
  }
}
