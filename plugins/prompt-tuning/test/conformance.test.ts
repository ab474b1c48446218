import { conformanceSuite } from '@peftkit/testing';
import promptTuning from '@peftkit/prompt-tuning';

// The kit's checks (strict config, merge refused, save → load, mixed batch with different prompt lengths per row,
// leak-free dispose) for causal LM and sequence classification.
conformanceSuite({
  plugin: promptTuning,
  name: 'prompt-tuning random init',
  config: { num_virtual_tokens: 4 },
  secondConfig: { num_virtual_tokens: 2, prompt_tuning_init: 'SAMPLE_VOCAB' },
});

conformanceSuite({
  plugin: promptTuning,
  name: 'prompt-tuning seq-cls (classifier copy in modules_to_save)',
  task: 'seq-cls',
  config: { num_virtual_tokens: 3, task_type: 'SEQ_CLS' },
  secondConfig: { num_virtual_tokens: 5, prompt_tuning_init: 'SAMPLE_VOCAB' },
});
