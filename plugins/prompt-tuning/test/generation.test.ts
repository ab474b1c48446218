import promptTuning from '@peftkit/prompt-tuning';
import { generationSuite } from './generation-check.ts';

generationSuite(
  promptTuning,
  [],
  [{ num_virtual_tokens: 4 }, { num_virtual_tokens: 2, prompt_tuning_init: 'SAMPLE_VOCAB' }],
);
