/**
 * @peftkit/prompt-tuning — prompt tuning (PEFT PROMPT_TUNING) as a peftkit method plugin, plus the prompt-learning
 * pieces P-Tuning builds on (config fields, virtual-token hook, SEQ_CLS head copies, PEFT's prompt_embeddings format).
 */
import { promptTuning } from './plugin.ts';

export default promptTuning;
export { promptTuning };
export { injectPromptTuning, loadPromptTuning, PLUGIN_VERSION, savePromptTuning } from './plugin.ts';
export {
  type PromptLearningConfig,
  promptLearningFields,
  type PromptTuningConfig,
  PromptTuningConfigSchema,
  TASK_TYPES,
} from './config.ts';
export { initialPrompt, initTokenIds, repeatToLength } from './init.ts';
export {
  assertFinite,
  headTensors,
  loadHeads,
  PROMPT_EMBEDDINGS,
  parseSavedConfig,
  promptLearningConfigFields,
  takeTensor,
  warnUnused,
} from './persist.ts';
export {
  attachPrompt,
  createPromptLearningParts,
  disposeParts,
  effectiveModulesToSave,
  headSites,
  resolveDims,
  SEQ_CLS_HEADS,
} from './prompt-learning.ts';
export type {
  HeadCopy,
  PromptDims,
  PromptLearningParts,
  PromptTuningHandle,
  Tensor,
  Tensor2D,
  Tensor3D,
  Variable,
} from './types.ts';
