import type { Tensor, Tensor2D, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { Tf } from '@peftkit/core';
import { type SequenceLayout, checkPositions, multiHeadAttention, prepareSequence, tokenTypesOf } from './attention.ts';
import { type BertConfig, parseBertConfig } from './bert-config.ts';
import { type ForwardInput, type ForwardOptions, validateInput } from '@peftkit/core';
import { activate, labelsFromConfig } from './gpt2-config.ts';
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
import { DenseLinearBase, runLinear } from '@peftkit/core';
import { createLinearSite } from '@peftkit/core';
import { applyHooks, resolveSelection } from '@peftkit/core';
import { type WeightSource, WeightLoader } from '@peftkit/core';

interface BertLayer {
  query: LinearSite;
  key: LinearSite;
  value: LinearSite;
  attnDense: LinearSite;
  attnBlock: BlockSite;
  attnNorm: NormSite;
  intermediate: LinearSite;
  outDense: LinearSite;
  outBlock: BlockSite;
  outNorm: NormSite;
}

export interface BertOptions {
  task?: ModelTask;
  /** Labels for sequence classification (default: the config's id2label / num_labels). */
  labels?: readonly string[];
}

function taskError(message: string): PeftkitError {
  return new PeftkitError('PEFTKIT_E_MODEL_TASK', message, { arch: 'bert' });
}

/** First attended position per row: [CLS], or the first virtual token under prompt tuning (what HF's pooler sees). */
function firstRealIndex(mask: readonly (readonly number[])[]): number[] {
  return mask.map((row) => Math.max(0, row.indexOf(1)));
}

/**
 * BERT encoder with the sequence-classification head (BertForSequenceClassification) on the model-graph seam,
 * with Hugging Face module names. Post-norm residuals; bottleneck-adapter block hooks transform each sub-layer's
 * dense output before its residual + LayerNorm (Houlsby placement).
 *
 * PEFT semantics: prompt tuning prepends virtual tokens (token type 0, positions 0..T-1, real tokens after them)
 * and the pooler then reads the first virtual token; prefix tuning (P-Tuning v2) passes per-layer key/value
 * prefixes and HF starts the real tokens' positions at the prefix length. Positions count attended tokens, which
 * equals HF's arange for unpadded and right-padded input; for left padding HF would misplace positions and pool a
 * pad token, here the result equals the unpadded row. No base-model dropout is applied, even while training.
 */
export class BertModel extends SiteGraph implements ModelGraph {
  readonly arch = 'bert';
  readonly task: ModelTask = 'seq-cls';
  readonly config: BertConfig;
  readonly labels: readonly string[];
  readonly #words: EmbeddingSite;
  readonly #positions: EmbeddingSite;
  readonly #types: EmbeddingSite;
  readonly #embedNorm: NormSite;
  readonly #layers: BertLayer[] = [];
  readonly #pooler: LinearSite;
  readonly #classifier: LinearSite;

  constructor(tf: Tf, configJson: unknown, weights: WeightSource, options: BertOptions = {}) {
    if (options.task !== undefined && options.task !== 'seq-cls')
      throw taskError(`BERT supports task 'seq-cls' only, not '${options.task}'`);
    super(tf);
    this.config = parseBertConfig(configJson);
    this.labels = options.labels ?? labelsFromConfig(this.config.json);
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
      const linear = (name: string, out: number, inp: number, layer: number | null, isHead = false): LinearSite => {
        const w = loader.take(`${name}.weight`, [out, inp]);
        const b = loader.take(`${name}.bias`, [out], 'zeros');
        return this.addSite(
          createLinearSite(name, new DenseLinearBase(tf, w, 'out_in', b), { layer, layout: 'out_in', isHead }),
        );
      };
      const block = (name: string, layer: number, role: 'attention' | 'mlp'): BlockSite =>
        this.addSite({ kind: 'block', name, layer, role, dim: d, hooks: new HookTable<SiteHook>(name) });
      this.#words = embedding('bert.embeddings.word_embeddings', vocabSize);
      this.#positions = embedding('bert.embeddings.position_embeddings', maxPositions);
      this.#types = embedding('bert.embeddings.token_type_embeddings', this.config.typeVocabSize);
      this.#embedNorm = norm('bert.embeddings.LayerNorm', null);
      for (let i = 0; i < numLayers; i++) {
        const p = `bert.encoder.layer.${i}`;
        this.#layers.push({
          query: linear(`${p}.attention.self.query`, d, d, i),
          key: linear(`${p}.attention.self.key`, d, d, i),
          value: linear(`${p}.attention.self.value`, d, d, i),
          attnDense: linear(`${p}.attention.output.dense`, d, d, i),
          attnBlock: block(`${p}.attention.output`, i, 'attention'),
          attnNorm: norm(`${p}.attention.output.LayerNorm`, i),
          intermediate: linear(`${p}.intermediate.dense`, intermediateSize, d, i),
          outDense: linear(`${p}.output.dense`, d, intermediateSize, i),
          outBlock: block(`${p}.output`, i, 'mlp'),
          outNorm: norm(`${p}.output.LayerNorm`, i),
        });
      }
      this.#pooler = linear('bert.pooler.dense', d, d, null);
      this.#classifier = linear('classifier', this.labels.length, d, null, true);
    } catch (error) {
      loader.disposeAll();
      throw error;
    }
    this.adoptParameters(loader.created);
  }

  protected get tokenEmbedding(): Variable {
    return this.#words.weight;
  }

  /** BERT is an encoder: there are no causal-LM logits. */
  forward(_input: ForwardInput, _options?: ForwardOptions): Tensor3D {
    throw taskError('BERT has no causal-LM head; use classify()');
  }

  /** Sequence-classification logits [batch, labels]: tanh pooler on the first attended token, then the classifier. */
  classify(input: ForwardInput, options: ForwardOptions = {}): Tensor2D {
    if (options.cache !== undefined) throw taskError('BERT is an encoder and takes no KV cache');
    const tf = this.tf;
    return tf.tidy(() => {
      const call = this.#call(input.ids.length, options);
      const { hidden, tokenMask } = this.#hidden(input, call);
      const [batch, seq, d] = hidden.shape;
      const index = tf.tensor1d(
        firstRealIndex(tokenMask).map((i, b) => b * seq + i),
        'int32',
      );
      const first = tf.reshape(tf.gather(tf.reshape(hidden, [batch * seq, d]), index), [batch, 1, d]) as Tensor3D;
      const pooled = tf.tanh(runLinear(tf, this.#pooler, first, call)) as Tensor3D;
      return tf.reshape(runLinear(tf, this.#classifier, pooled, call), [batch, -1]) as Tensor2D;
    });
  }

  #call(batch: number, options: ForwardOptions): ForwardCall {
    return {
      groups: resolveSelection(options.selection, batch, this.hasAdapter),
      batchSize: batch,
      training: options.training ?? false,
      rng: options.rng ?? null,
    };
  }

  /** Last hidden states [batch, virtual + seq, hidden] with their token mask. Runs inside the caller's tidy. */
  #hidden(input: ForwardInput, call: ForwardCall): { hidden: Tensor3D; tokenMask: number[][] } {
    const tf = this.tf;
    const { dims, typeVocabSize } = this.config;
    const { batch, seq, mask } = validateInput(input, dims.vocabSize);
    const lookup = (site: EmbeddingSite, ids: Tensor) =>
      applyHooks(tf, site.hooks, ids, tf.gather(site.weight, ids) as Tensor3D, call);

    const ids = tf.tensor2d(input.ids as number[][], undefined, 'int32');
    const layout = prepareSequence(tf, {
      embeddings: lookup(this.#words, ids),
      mask,
      prompts: this.prompts,
      prefixes: this.prefixes,
      call,
      dims,
      cache: undefined,
      causal: false,
    });
    checkPositions(layout.positions, dims.maxPositions);
    // PEFT gives virtual tokens token type 0; positions count attended tokens after
    // any prefix (see docs of prepareSequence).
    const types = tokenTypesOf(input.tokenTypes, batch, seq, typeVocabSize).map((row) => [
      ...new Array<number>(layout.virtualCount).fill(0),
      ...row,
    ]);
    let h = tf.add(layout.hidden, lookup(this.#types, tf.tensor2d(types, undefined, 'int32')));
    h = tf.add(h, lookup(this.#positions, tf.tensor2d(layout.positions, undefined, 'int32')));
    h = runNorm(tf, this.#embedNorm, h as Tensor3D, call);
    let x = h as Tensor3D;
    for (const [i, layer] of this.#layers.entries()) {
      const context = this.#attention(i, layer, x, layout, call);
      const attn = applyHooks(tf, layer.attnBlock.hooks, x, runLinear(tf, layer.attnDense, context, call), call);
      const a = runNorm(tf, layer.attnNorm, tf.add(attn, x), call);
      const inner = activate(tf, runLinear(tf, layer.intermediate, a, call), this.config.activation) as Tensor3D;
      const out = applyHooks(tf, layer.outBlock.hooks, a, runLinear(tf, layer.outDense, inner, call), call);
      x = runNorm(tf, layer.outNorm, tf.add(out, a), call);
    }
    return { hidden: x, tokenMask: layout.tokenMask };
  }

  #attention(index: number, layer: BertLayer, x: Tensor3D, layout: SequenceLayout, call: ForwardCall): Tensor3D {
    const tf = this.tf;
    const { numHeads, headDim } = this.config.dims;
    const [batch, seq] = x.shape;
    const heads = (site: LinearSite) =>
      tf.reshape(runLinear(tf, site, x, call), [batch, seq, numHeads, headDim]) as Tensor4D;
    const prefix = layout.prefixes[index] ?? null;
    return multiHeadAttention(tf, {
      q: heads(layer.query),
      k: heads(layer.key),
      v: heads(layer.value),
      mask: layout.additiveMask,
      prefix,
      cache: undefined,
      layer: index,
      scale: 1 / Math.sqrt(headDim),
    });
  }
}
