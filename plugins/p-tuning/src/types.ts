import type { PromptLearningParts, Variable } from '@peftkit/prompt-tuning';

/** A torch.nn.Linear: weight [out, in], bias [out]. */
export interface LinearParams {
  readonly weight: Variable;
  readonly bias: Variable;
}

/** One direction of one torch.nn.LSTM layer (gate order i, f, g, o). */
export interface LstmDirection {
  /** [4h, in] */
  readonly weightIh: Variable;
  /** [4h, h] */
  readonly weightHh: Variable;
  /** [4h] */
  readonly biasIh: Variable;
  /** [4h] */
  readonly biasHh: Variable;
}

/** PEFT's PromptEncoder: embedding → MLP, or embedding → bidirectional LSTM → MLP head. */
export interface PromptEncoder {
  readonly type: 'MLP' | 'LSTM';
  readonly hiddenSize: number;
  readonly dropout: number;
  /** [num_virtual_tokens, token_dim]: the encoder's input. */
  readonly embedding: Variable;
  /** Bidirectional layers (empty for MLP). */
  readonly lstm: readonly { readonly forward: LstmDirection; readonly backward: LstmDirection }[];
  /** MLP: d→h, h→h, h→d; LSTM head: 2h→2h, 2h→d (ReLU between). */
  readonly mlp: readonly LinearParams[];
}

export interface PTuningHandle extends PromptLearningParts {
  /** The encoder while training; null for an adapter loaded from PEFT's inference form (fixed prompt). */
  readonly encoder: PromptEncoder | null;
  /** The fixed prompt [num_virtual_tokens, token_dim] when `encoder` is null. */
  readonly prompt: Variable | null;
}
