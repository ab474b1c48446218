import { type ForwardCall, type MethodContext, PeftkitError, type SavedAdapter } from '@peftkit/core';
import {
  assertFinite,
  attachPrompt,
  createPromptLearningParts,
  disposeParts,
  headTensors,
  loadHeads,
  PROMPT_EMBEDDINGS,
  type PromptLearningParts,
  parseSavedConfig,
  promptLearningConfigFields,
  type Tensor,
  type Tensor2D,
  takeTensor,
  warnUnused,
} from '@peftkit/prompt-tuning';
import { type PTuningConfig, PTuningConfigSchema } from './config.ts';
import { encodePrompt } from './encoder.ts';
import { createEncoder, encoderParameters } from './encoder-params.ts';
import type { PTuningHandle } from './types.ts';

export const PLUGIN_VERSION = '0.1.0';
export const NAME = 'p-tuning';

/** Key whose presence marks a training checkpoint (encoder weights kept) rather than PEFT's inference form. */
const ENCODER_EMBEDDING = 'prompt_encoder.embedding.weight';
const INFERENCE_CALL: ForwardCall = { groups: [], batchSize: 1, training: false, rng: null };

/** Builds the prompt encoder and attaches its output (recomputed every forward, so gradients reach the encoder). */
export function injectPTuning(ctx: MethodContext, config: PTuningConfig): PTuningHandle {
  const parts = createPromptLearningParts(ctx, config);
  try {
    const { numVirtualTokens, tokenDim } = parts.dims;
    if (config.encoder_reparameterization_type === 'MLP' && config.encoder_num_layers !== 2) {
      ctx.log.warn(
        `p-tuning: encoder_num_layers ${config.encoder_num_layers} is ignored by the MLP encoder ` +
          '(always 2 hidden layers, as in PEFT)',
      );
    }
    const encoder = createEncoder(
      ctx,
      {
        type: config.encoder_reparameterization_type,
        tokens: numVirtualTokens,
        dim: tokenDim,
        hidden: config.encoder_hidden_size ?? tokenDim,
        layers: config.encoder_num_layers,
        dropout: config.encoder_dropout,
      },
      parts.trainableVariables,
    );
    attachPrompt(ctx, parts, (call) => encodePrompt(ctx.tf, encoder, call));
    return { ...parts, encoder, prompt: null };
  } catch (error) {
    disposeParts(parts);
    throw error;
  }
}

/** PEFT's inference form: a fixed prompt, exactly what PEFT does with a loaded P-Tuning adapter (inference_mode). */
function injectFixedPrompt(ctx: MethodContext, config: PTuningConfig, values: Tensor): PTuningHandle {
  const parts: PromptLearningParts = createPromptLearningParts(ctx, config);
  try {
    const prompt = ctx.tf.variable(values, true);
    parts.trainableVariables.unshift(prompt);
    attachPrompt(ctx, parts, () => prompt as Tensor2D);
    return { ...parts, encoder: null, prompt };
  } catch (error) {
    disposeParts(parts);
    throw error;
  }
}

/** The virtual tokens as PEFT saves them: the encoder's output at inference (no dropout), or the fixed prompt. */
export function promptEmbeddings(ctx: MethodContext, handle: PTuningHandle): Tensor2D {
  if (handle.encoder === null) return ctx.tf.clone(handle.prompt as Tensor2D);
  const encoder = handle.encoder;
  return ctx.tf.tidy(() => encodePrompt(ctx.tf, encoder, INFERENCE_CALL));
}

function configFile(ctx: MethodContext, handle: PTuningHandle, config: PTuningConfig): Record<string, unknown> {
  const task = ctx.model.task === 'seq-cls' ? 'SEQ_CLS' : 'CAUSAL_LM';
  return {
    ...promptLearningConfigFields(handle, config, 'P_TUNING', `peftkit-${NAME}@${PLUGIN_VERSION}`, task),
    encoder_reparameterization_type: config.encoder_reparameterization_type,
    encoder_hidden_size: config.encoder_hidden_size ?? handle.dims.tokenDim,
    encoder_num_layers: config.encoder_num_layers,
    encoder_dropout: config.encoder_dropout,
  };
}

/** PEFT's P_TUNING file: only the encoder's output as `prompt_embeddings` (plus SEQ_CLS head copies). */
export function savePTuning(ctx: MethodContext, handle: PTuningHandle, config: PTuningConfig): SavedAdapter {
  return {
    config: configFile(ctx, handle, config),
    tensors: { [PROMPT_EMBEDDINGS]: promptEmbeddings(ctx, handle), ...headTensors(ctx, handle) },
  };
}

/**
 * A training checkpoint: PEFT's file plus every encoder weight under its PyTorch name and `inference_mode: false`.
 * PEFT itself still loads it (it reads `prompt_embeddings` and ignores the rest); peftkit's `load` restores the encoder
 * so training can resume. Tensors are owned by the caller.
 */
export function saveTrainingCheckpoint(ctx: MethodContext, handle: PTuningHandle, config: PTuningConfig): SavedAdapter {
  const encoder = handle.encoder;
  if (encoder === null) {
    throw new PeftkitError(
      'PEFTKIT_E_NO_ENCODER',
      'this P-Tuning adapter was loaded from an inference file: it has no encoder to checkpoint',
      {},
    );
  }
  const saved = savePTuning(ctx, handle, config);
  const tensors: Record<string, Tensor> = { ...saved.tensors };
  for (const [key, v] of encoderParameters(encoder)) tensors[key] = ctx.tf.clone(v);
  return { config: { ...saved.config, inference_mode: false }, tensors };
}

export function loadPTuning(ctx: MethodContext, saved: SavedAdapter): { handle: PTuningHandle; config: PTuningConfig } {
  const config = parseSavedConfig(ctx, saved.config, PTuningConfigSchema, NAME);
  const used = new Set<string>();
  const dim = ctx.model.dims.hiddenSize;
  let handle: PTuningHandle | undefined;
  try {
    if (saved.tensors[ENCODER_EMBEDDING] !== undefined) {
      handle = injectPTuning(ctx, config);
      for (const [key, v] of encoderParameters(handle.encoder as NonNullable<PTuningHandle['encoder']>)) {
        const t = takeTensor(saved, [key], v.shape, used);
        assertFinite(t, key);
        v.assign(t);
      }
      // The output is recomputed from the encoder; a stale or foreign prompt_embeddings is not used.
      used.add(PROMPT_EMBEDDINGS);
    } else {
      const prompt = takeTensor(saved, [PROMPT_EMBEDDINGS], [config.num_virtual_tokens, dim], used);
      assertFinite(prompt, PROMPT_EMBEDDINGS);
      handle = injectFixedPrompt(ctx, config, prompt);
    }
    loadHeads(ctx, handle, saved, used);
  } catch (error) {
    if (handle !== undefined) disposeParts(handle);
    throw error;
  }
  warnUnused(ctx, saved, used, NAME);
  return { handle, config };
}
