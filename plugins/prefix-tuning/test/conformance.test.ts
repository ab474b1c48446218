import { conformanceSuite } from '@peftkit/testing';
import prefixTuning from '@peftkit/prefix-tuning';

// The kit's checks (strict config, merge refused, save → load, coexisting adapters, mixed batch, leak-free dispose)
// on the tiny grouped-query Llama (4 heads, 2 key/value heads), causal LM and sequence classification.
conformanceSuite({
  plugin: prefixTuning,
  name: 'prefix-tuning flat',
  config: { num_virtual_tokens: 4 },
  secondConfig: { num_virtual_tokens: 2 },
});

conformanceSuite({
  plugin: prefixTuning,
  name: 'prefix-tuning with prefix_projection',
  config: { num_virtual_tokens: 3, prefix_projection: true, encoder_hidden_size: 12 },
  secondConfig: { num_virtual_tokens: 5 },
});

conformanceSuite({
  plugin: prefixTuning,
  name: 'prefix-tuning seq-cls (score head trained)',
  task: 'seq-cls',
  config: { num_virtual_tokens: 4, task_type: 'SEQ_CLS' },
  secondConfig: { num_virtual_tokens: 3, prefix_projection: true },
});
