import promptTuning from '@peftkit/prompt-tuning';
import { modelsSuite } from './models-check.ts';

modelsSuite(
  promptTuning,
  [],
  [{ num_virtual_tokens: 3 }, { num_virtual_tokens: 5, prompt_tuning_init: 'SAMPLE_VOCAB' }],
);
