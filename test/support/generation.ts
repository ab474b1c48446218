/**
 * The setup of the generation tests: a kernel on one backend and the vendored stories260K loaded through it, seen
 * as the generator sees a model (CausalLanguageModel); the model and its files are removed after `body`.
 */
import type { Tokenizer } from '@peftkit/core';
import { createKernel } from 'peftkit';
import type { CausalLanguageModel } from '../../packages/models/src/generate/generate.ts';
import { loadStories260K } from './learning.ts';
import type { SkippableContext } from './shared.ts';

type Tf = Awaited<ReturnType<typeof createKernel>>['tf'];

export interface GenerationSetup {
  tf: Tf;
  model: CausalLanguageModel;
  tokenizer: Tokenizer;
}

export async function withStories260K(
  t: SkippableContext,
  backend: string,
  body: (setup: GenerationSetup) => void | Promise<void>,
): Promise<void> {
  const { tf } = await createKernel({ backend, logger: { warn() {}, info() {} } });
  const loaded = await loadStories260K(t, tf);
  try {
    await body({ tf, model: loaded.model as unknown as CausalLanguageModel, tokenizer: loaded.tokenizer as Tokenizer });
  } finally {
    await loaded.cleanup();
  }
}
