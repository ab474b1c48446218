/**
 * @peftkit/p-tuning — P-Tuning (PEFT P_TUNING): virtual tokens produced by a prompt encoder (MLP, or bidirectional
 * LSTM followed by an MLP) and prepended to the input embeddings. Builds on @peftkit/prompt-tuning.
 */
import { definePlugin, type MethodPlugin } from '@peftkit/core';
import { disposeParts } from '@peftkit/prompt-tuning';
import { type PTuningConfig, PTuningConfigSchema } from './config.ts';
import { injectPTuning, loadPTuning, PLUGIN_VERSION, savePTuning, saveTrainingCheckpoint } from './plugin.ts';
import type { PTuningHandle } from './types.ts';

const pTuning: MethodPlugin<PTuningConfig, PTuningHandle> = definePlugin<PTuningConfig, PTuningHandle>({
  meta: {
    name: 'p-tuning',
    version: PLUGIN_VERSION,
    core: '^1.0.0',
    family: 'prompt',
    peftType: 'P_TUNING',
    dependencies: { 'prompt-tuning': '^0.1.0' },
    description: 'P-Tuning: virtual tokens from an MLP or bidirectional-LSTM prompt encoder, in PEFT format',
  },
  configSchema: PTuningConfigSchema,
  capabilities: { merge: 'never', identityAtInit: false, mixedBatch: true },
  inject: injectPTuning,
  save: savePTuning,
  // training checkpoints keep the encoder (an adapter loaded from PEFT's inference file has none: it trains the prompt)
  saveCheckpoint: (ctx, handle, config) =>
    handle.encoder ? saveTrainingCheckpoint(ctx, handle, config) : savePTuning(ctx, handle, config),
  load: loadPTuning,
  dispose: (_ctx, handle) => disposeParts(handle),
});

export default pTuning;
export { pTuning };
export { type PTuningConfig, PTuningConfigSchema } from './config.ts';
export { encodePrompt, lstmDirection } from './encoder.ts';
export { createEncoder, type EncoderShape, encoderParameters } from './encoder-params.ts';
export {
  injectPTuning,
  loadPTuning,
  PLUGIN_VERSION,
  promptEmbeddings,
  savePTuning,
  saveTrainingCheckpoint,
} from './plugin.ts';
export type { LinearParams, LstmDirection, PromptEncoder, PTuningHandle } from './types.ts';
