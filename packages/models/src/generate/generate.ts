import type { Tensor3D } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { ForwardInput, ForwardOptions } from '@peftkit/core';
import type { AdapterSelection, PrefixHook, PromptHook } from '@peftkit/core';
import type { HookTable } from '@peftkit/core';
import type { KvCache } from '@peftkit/core';
import type { Tokenizer } from '@peftkit/core';
import type { Tf } from '@peftkit/core';
import { Rng } from '@peftkit/core';
import { GeneratedText } from './detokenize.ts';
import { greedyOnBackend, lastLogitsOnHost, probabilitiesOnBackend } from './greedy.ts';
import { type SamplingOptions, sampleFromProbabilities, sampleToken, validateSampling } from './sampling.ts';

/** What generation needs from a model: a causal-LM forward with an optional KV cache. */
export interface CausalLanguageModel {
  readonly dims: { readonly vocabSize: number; readonly maxPositions: number };
  /** Prompt and prefix hooks (ModelGraph's), consulted for the virtual tokens an adapter adds. */
  readonly prompts?: HookTable<PromptHook>;
  readonly prefixes?: HookTable<PrefixHook>;
  forward(input: ForwardInput, options?: ForwardOptions): Tensor3D;
  createCache(): KvCache;
  /** The runtime of `forward`'s logits; with it, greedy decoding picks tokens there (absent: on the host). */
  readonly tf?: Tf;
}

export interface GenerateOptions extends Partial<SamplingOptions> {
  maxTokens?: number;
  stop?: readonly string[];
  seed?: number;
  /** Stop a row when it produces the tokenizer's end-of-sequence token (default true). */
  stopAtEos?: boolean;
  /** Decode with the KV cache (default) or by re-running the whole sequence each step. */
  useCache?: boolean;
  /**
   * Record each token's log-probability (default true). false: results' `logprobs` are empty and events' `logprob`
   * is NaN; greedy decoding then skips the softmax over the vocabulary (as a plain arg-max loop does).
   */
  logprobs?: boolean;
}

export interface GenerateRequest {
  /** Prompt text (BOS added as the tokenizer's config says); or `ids`. */
  prompt?: string;
  ids?: readonly number[];
  /** Adapter for this row; null or absent: the base model. */
  adapter?: string | null;
  /** This row's own token limit (at most the options' maxTokens, which sizes the batch). */
  maxTokens?: number;
  /** This row's own sampling seed: its tokens then do not depend on the other rows (default: the batch's RNG). */
  seed?: number;
}

export type FinishReason = 'eos' | 'stop' | 'length';

export interface GenerationResult {
  text: string;
  ids: number[];
  logprobs: number[];
  promptTokens: number;
  finishReason: FinishReason;
}

export interface TokenEvent {
  row: number;
  id: number;
  /** Text this token added (may be empty while a multi-byte character is incomplete). */
  text: string;
  logprob: number;
}

interface Row {
  prompt: number[];
  generated: number[];
  logprobs: number[];
  maxTokens: number;
  /** Incremental detokenization and stop strings of this row (constant cost per token). */
  text: GeneratedText;
  /** The row's own RNG when its request has a seed, else the batch's. */
  rng: Rng;
  finish: FinishReason | null;
}

/** Steps a batch of sequences one token at a time (left-padded prefill, then cached single-token steps). */
export class BatchGenerator {
  readonly rows: Row[];
  readonly #model: CausalLanguageModel;
  readonly #tokenizer: Tokenizer;
  readonly #options: Required<Omit<GenerateOptions, 'seed'>>;
  readonly #selection: AdapterSelection | undefined;
  readonly #rng: Rng;
  #cache: KvCache | null = null;
  #steps = 0;

  constructor(
    model: CausalLanguageModel,
    tokenizer: Tokenizer,
    requests: readonly GenerateRequest[],
    options: GenerateOptions = {},
  ) {
    if (requests.length === 0) throw new PeftkitError('PEFTKIT_E_GENERATE_OPTIONS', 'no prompts given', {});
    this.#model = model;
    this.#tokenizer = tokenizer;
    this.#options = {
      maxTokens: options.maxTokens ?? 64,
      temperature: options.temperature ?? 1,
      topK: options.topK ?? 0,
      topP: options.topP ?? 1,
      repetitionPenalty: options.repetitionPenalty ?? 1,
      stop: options.stop ?? [],
      stopAtEos: options.stopAtEos ?? true,
      useCache: options.useCache ?? true,
      logprobs: options.logprobs ?? true,
    };
    validateSampling(this.#options);
    if (!Number.isInteger(this.#options.maxTokens) || this.#options.maxTokens < 0) {
      throw new PeftkitError('PEFTKIT_E_GENERATE_OPTIONS', 'max_tokens must be an integer ≥ 0', {
        field: 'max_tokens',
      });
    }
    this.#rng = new Rng(options.seed ?? 0);
    this.rows = requests.map((r) => {
      const maxTokens = Math.min(r.maxTokens ?? this.#options.maxTokens, this.#options.maxTokens);
      const prompt = r.ids
        ? [...r.ids]
        : tokenizer.encode(r.prompt ?? '', tokenizer.bosId !== undefined ? { bos: true } : {});
      if (prompt.length === 0)
        throw new PeftkitError('PEFTKIT_E_GENERATE_OPTIONS', 'empty prompt and the tokenizer adds no BOS token', {});
      // virtual tokens of prompt and prefix methods take positions too: refuse up front, not mid-generation. Each
      // row's positions count from its own first token (left padding takes none), so its own limit is what counts.
      const virtual = virtualTokenCount(model, r.adapter ?? null);
      if (virtual + prompt.length + maxTokens > model.dims.maxPositions) {
        throw new PeftkitError(
          'PEFTKIT_E_CONTEXT_LENGTH',
          `prompt (${prompt.length}${virtual > 0 ? ` + ${virtual} virtual tokens` : ''}) + max_tokens (${maxTokens}) ` +
            `exceeds the context length ${model.dims.maxPositions}`,
          { promptTokens: prompt.length, virtualTokens: virtual },
        );
      }
      return {
        prompt,
        generated: [],
        logprobs: [],
        maxTokens,
        text: new GeneratedText(tokenizer, prompt, this.#options.stop),
        rng: r.seed === undefined ? this.#rng : new Rng(r.seed),
        finish: maxTokens === 0 ? 'length' : null,
      };
    });
    const adapters = requests.map((r) => r.adapter ?? null);
    this.#selection = adapters.every((a) => a === null) ? undefined : { perRow: adapters };
  }

  get done(): boolean {
    return this.rows.every((r) => r.finish !== null);
  }

  /** Runs one decoding step for every unfinished row; returns the new tokens. */
  step(): TokenEvent[] {
    if (this.done) return [];
    const picks = this.#pick(this.#forward());
    const events: TokenEvent[] = [];
    this.rows.forEach((row, b) => {
      if (row.finish !== null) return;
      const pick = picks(b, row);
      const { id } = pick;
      const logprob = this.#options.logprobs ? pick.logprob : Number.NaN;
      row.generated.push(id);
      if (this.#options.logprobs) row.logprobs.push(logprob);
      events.push({ row: b, id, text: this.#advanceText(row, id), logprob });
    });
    this.#steps++;
    if (this.done) this.dispose();
    return events;
  }

  /**
   * Each row's token from the logits (disposed here). Greedy without a repetition penalty needs neither the other
   * rows' history nor the whole vocabulary on the host: the arg-max and its log-probability come from the backend.
   * Plain temperature sampling takes the backend's softmax; top-k, top-p and penalties run on the host.
   */
  #pick(out: Tensor3D): (b: number, row: Row) => { id: number; logprob: number } {
    const o = this.#options;
    const tf = this.#model.tf;
    const vocab = this.#model.dims.vocabSize;
    if (tf !== undefined && o.temperature === 0 && o.repetitionPenalty === 1) {
      const { ids, logprobs } = greedyOnBackend(tf, out, o.logprobs);
      return (b) => ({ id: ids[b] as number, logprob: logprobs?.[b] ?? Number.NaN });
    }
    // Temperature sampling with no top-k, top-p or penalty: the probabilities come from the backend's softmax.
    if (tf !== undefined && o.topK === 0 && o.topP >= 1 && o.repetitionPenalty === 1) {
      const probs = probabilitiesOnBackend(tf, out, o.temperature);
      return (b, row) => sampleFromProbabilities(probs.subarray(b * vocab, (b + 1) * vocab), row.rng);
    }
    const logits = lastLogitsOnHost(out);
    return (b, row) => sampleToken(logits.subarray(b * vocab, (b + 1) * vocab), o, row.rng, row.text.ids);
  }

  /** Logits [batch, seq, vocab] of the next position (seq is 1 with the cache or `lastPosition`). */
  #forward(): Tensor3D {
    const padId = this.#tokenizer.padId ?? this.#tokenizer.eosId ?? 0;
    // Only the last position's logits are sampled from: the head runs on that position alone.
    const options: ForwardOptions = this.#selection
      ? { selection: this.#selection, lastPosition: true }
      : { lastPosition: true };
    if (this.#options.useCache && this.#steps > 0 && this.#cache) {
      // Finished rows keep stepping on their last token (masked out of results) so the batch stays rectangular.
      const ids = this.rows.map((r) => [r.generated[r.generated.length - 1] ?? padId]);
      // Masked out: a finished row's position stops advancing, so it never passes its own limit (learned positions).
      const mask = this.rows.map((r) => [r.finish === null ? 1 : 0]);
      return this.#model.forward({ ids, mask }, { ...options, cache: this.#cache });
    }
    const sequences = this.rows.map((r) => [...r.prompt, ...r.generated]);
    const width = Math.max(...sequences.map((s) => s.length));
    const ids = sequences.map((s) => [...Array<number>(width - s.length).fill(padId), ...s]);
    const mask = sequences.map((s) => [...Array<number>(width - s.length).fill(0), ...Array<number>(s.length).fill(1)]);
    if (this.#options.useCache) this.#cache = this.#model.createCache();
    return this.#model.forward({ ids, mask }, this.#cache ? { ...options, cache: this.#cache } : options);
  }

  #advanceText(row: Row, id: number): string {
    const eos = this.#tokenizer.eosId;
    if (this.#options.stopAtEos && eos !== undefined && id === eos) {
      // The text held back (a possible stop's start, an incomplete character) is part of the answer: flush it.
      row.finish = 'eos';
      return row.text.close().text;
    }
    const step = row.text.push(id, row.generated.length >= row.maxTokens);
    if (step.stopped) row.finish = 'stop';
    else if (row.generated.length >= row.maxTokens) row.finish = 'length';
    return step.text;
  }

  results(): GenerationResult[] {
    // Rows finished from outside (a caller's cancellation) still get the text they held back.
    for (const r of this.rows) r.text.close();
    return this.rows.map((r) => ({
      text: r.text.emitted,
      ids: r.finish === 'eos' ? r.generated.slice(0, -1) : [...r.generated],
      logprobs: [...r.logprobs],
      promptTokens: r.prompt.length,
      finishReason: r.finish ?? 'length',
    }));
  }

  dispose(): void {
    this.#cache?.dispose();
    this.#cache = null;
  }
}

/** Generates for a batch of prompts (left padding, one adapter per row) and returns when all rows finish. */
export function generate(
  model: CausalLanguageModel,
  tokenizer: Tokenizer,
  requests: readonly GenerateRequest[],
  options: GenerateOptions = {},
): GenerationResult[] {
  const generator = new BatchGenerator(model, tokenizer, requests, options);
  try {
    while (!generator.done) generator.step();
    return generator.results();
  } finally {
    generator.dispose();
  }
}

/** Streams the tokens of one prompt as they are produced; the return value is the final result. */
export async function* streamGenerate(
  model: CausalLanguageModel,
  tokenizer: Tokenizer,
  request: GenerateRequest,
  options: GenerateOptions = {},
): AsyncGenerator<TokenEvent, GenerationResult> {
  const generator = new BatchGenerator(model, tokenizer, [request], options);
  try {
    while (!generator.done) {
      for (const event of generator.step()) yield event;
      // Let the event loop run between tokens (I/O, cancellation).
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
    return generator.results()[0] as GenerationResult;
  } finally {
    generator.dispose();
  }
}

/** Positions an adapter's virtual tokens occupy (prompt tokens and prefixes); 0 for the base or other methods. */
function virtualTokenCount(model: CausalLanguageModel, adapter: string | null): number {
  if (adapter === null) return 0;
  return (model.prompts?.get(adapter)?.numVirtualTokens ?? 0) + (model.prefixes?.get(adapter)?.numVirtualTokens ?? 0);
}
