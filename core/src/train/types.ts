import type { Tensor, Variable } from '@tensorflow/tfjs-core';

/**
 * The contract shared by the training loop (core/src/train), the data loaders (core/src/data), the progress and
 * report writers (core/src/report) and optimizers supplied by plugins (QLoRA's paged AdamW). Plain data only.
 */

/** Loss positions whose label is IGNORE_INDEX do not count (prompt tokens, padding) — PEFT/transformers' -100. */
export const IGNORE_INDEX = -100;

/** One tokenized example. */
export interface TrainExample {
  /** Token ids, already truncated to the maximum length. */
  readonly ids: readonly number[];
  /**
   * Causal LM: labels aligned with `ids` as in transformers (`labels[i]` is the token at position i; the loss
   * shifts by one inside the loop), IGNORE_INDEX where the position is not trained on (prompt tokens).
   * Absent for classification examples.
   */
  readonly labels?: readonly number[];
  /** Sequence classification: the class index. */
  readonly label?: number;
  /** BERT segment ids, aligned with `ids`. */
  readonly tokenTypes?: readonly number[];
}

/** A padded, rectangular batch (right padding: mask 0, labels IGNORE_INDEX on padded positions). */
export interface TrainBatch {
  readonly ids: readonly (readonly number[])[];
  readonly mask: readonly (readonly number[])[];
  readonly labels?: readonly (readonly number[])[];
  readonly classLabels?: readonly number[];
  readonly tokenTypes?: readonly (readonly number[])[];
  /** Number of tokens that carry a loss (for tokens/s and loss normalisation). */
  readonly lossTokens: number;
  /** Real (unpadded) tokens in the batch. */
  readonly tokens: number;
}

/** Serialisable optimizer state: named float arrays plus plain numbers (step count …). */
export interface OptimizerState {
  readonly kind: string;
  readonly scalars: Readonly<Record<string, number>>;
  /** Per-variable slots, keyed `${variableName}/${slot}` (e.g. `lora_A/m`). */
  readonly slots: ReadonlyMap<string, { readonly shape: readonly number[]; readonly values: Float32Array }>;
}

/**
 * An optimizer applies one update given gradients keyed by variable name. Implementations own their slot tensors
 * (or keep them off the backend, as a paged optimizer does) and must free them in `dispose`.
 */
export interface Optimizer {
  readonly kind: string;
  /** Applies one update with learning rate `lr`; the gradients stay owned by the caller. */
  apply(variables: readonly Variable[], grads: Readonly<Record<string, Tensor>>, lr: number): void;
  state(): OptimizerState;
  loadState(state: OptimizerState): void;
  /** Bytes of optimizer state held on the tensor backend (paged optimizers report 0 here). */
  readonly backendBytes: number;
  dispose(): void;
}

/** What the loop reports after each optimizer step. */
export interface StepEvent {
  readonly step: number;
  readonly totalSteps: number;
  readonly epoch: number;
  readonly loss: number;
  readonly lr: number;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
  /** Tokens processed by this step (all micro-batches). */
  readonly tokens: number;
  /** Seconds since training (or the resumed run) started. */
  readonly elapsed: number;
}

export interface EvalEvent {
  readonly step: number;
  readonly loss: number;
  readonly perplexity: number;
  /** Classification only. */
  readonly accuracy?: number;
  readonly examples: number;
}

export interface SaveEvent {
  readonly step: number;
  readonly dir: string;
}

/** Hooks for plugins and users. May be async; the loop awaits them. */
export interface TrainCallbacks {
  onStep?(event: StepEvent): void | Promise<void>;
  onEval?(event: EvalEvent): void | Promise<void>;
  onSave?(event: SaveEvent): void | Promise<void>;
}
