import { conformanceSuite } from '@peftkit/testing';
import pTuning from '@peftkit/p-tuning';
import promptTuning from '@peftkit/prompt-tuning';

// The kit's checks for both encoders, causal LM and sequence classification; mixed batches combine adapters with
// different encoders and virtual-token counts in one forward.
conformanceSuite({
  plugin: pTuning,
  dependencies: [promptTuning],
  name: 'p-tuning MLP',
  config: { num_virtual_tokens: 4, encoder_hidden_size: 8 },
  secondConfig: {
    num_virtual_tokens: 2,
    encoder_reparameterization_type: 'LSTM',
    encoder_hidden_size: 6,
    encoder_num_layers: 1,
  },
});

conformanceSuite({
  plugin: pTuning,
  dependencies: [promptTuning],
  name: 'p-tuning LSTM seq-cls',
  task: 'seq-cls',
  config: {
    num_virtual_tokens: 3,
    encoder_reparameterization_type: 'LSTM',
    encoder_hidden_size: 8,
    encoder_dropout: 0.1,
    task_type: 'SEQ_CLS',
  },
  secondConfig: { num_virtual_tokens: 5 },
});
