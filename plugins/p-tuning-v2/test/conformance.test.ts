import { conformanceSuite } from '@peftkit/testing';
import pTuningV2 from '@peftkit/p-tuning-v2';
import prefixTuning from '@peftkit/prefix-tuning';

// The kit's checks for P-Tuning v2 (registered after the prefix-tuning plugin it depends on): sequence
// classification with the trained head, and causal LM; prefix dropout on (it only acts while training).
conformanceSuite({
  plugin: pTuningV2,
  dependencies: [prefixTuning],
  name: 'p-tuning-v2 seq-cls',
  task: 'seq-cls',
  config: { num_virtual_tokens: 4, prefix_dropout: 0.1 },
  secondConfig: { num_virtual_tokens: 2, prefix_projection: true, encoder_hidden_size: 8 },
});

conformanceSuite({
  plugin: pTuningV2,
  dependencies: [prefixTuning],
  name: 'p-tuning-v2 causal LM',
  config: { num_virtual_tokens: 3, prefix_dropout: 0 },
  secondConfig: { num_virtual_tokens: 4, prefix_projection: true },
});
