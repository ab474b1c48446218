import type { LinearSite, MethodHandle, SiteHook, Tf } from '@peftkit/core';

/** tfjs types through the core's `Tf` (plugins never import tfjs themselves). */
export type Tensor = ReturnType<Tf['tensor']>;
export type Tensor2D = ReturnType<Tf['tensor2d']>;
export type Tensor3D = ReturnType<SiteHook['apply']>;
export type Variable = ReturnType<Tf['variable']>;

/** The model dimensions a prompt-learning adapter was built for (what PEFT writes into adapter_config.json). */
export interface PromptDims {
  readonly numVirtualTokens: number;
  readonly tokenDim: number;
  readonly numTransformerSubmodules: number;
  readonly numAttentionHeads: number;
  readonly numLayers: number;
}

/**
 * A modules_to_save copy (the classifier head under SEQ_CLS): its output replaces the base module's for this adapter.
 */
export interface HeadCopy {
  readonly site: LinearSite;
  /** [out, in] */
  readonly weight: Variable;
  readonly bias: Variable | null;
}

/** What every prompt-learning handle holds besides the method's own parameters. */
export interface PromptLearningParts extends MethodHandle {
  readonly dims: PromptDims;
  /** Resolved modules_to_save (null when none), as written to adapter_config.json. */
  readonly modulesToSave: string[] | null;
  readonly heads: HeadCopy[];
  readonly trainableVariables: Variable[];
  /** Detaches the prompt hook and the head hooks. */
  readonly detach: (() => void)[];
}

export interface PromptTuningHandle extends PromptLearningParts {
  /** [num_virtual_tokens, token_dim]: the virtual-token embeddings (PEFT's `prompt_embeddings`). */
  readonly embedding: Variable;
}
