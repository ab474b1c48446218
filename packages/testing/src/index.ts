/** `@peftkit/testing`: the conformance kit and tiny fixtures for method-plugin authors. */
export { type ConformanceOptions, conformanceSuite } from './conformance.ts';
export { logits, maxAbsDiff, maxParameterDiff, perturb, snapshotParameters } from './conformance-checks.ts';
export { createTinyLlama, TINY_LLAMA_CONFIG, tinyBatch } from './tiny-model.ts';
export { createTestKernel } from './kernel.ts';
export {
  type CheckOptions,
  checkDeleteCleanup,
  checkGradientFlow,
  checkSaveAliasing,
  hookTables,
} from './conformance-extra.ts';
