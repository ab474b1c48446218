import pTuning from '@peftkit/p-tuning';
import promptTuning from '@peftkit/prompt-tuning';
import { modelsSuite } from '../../prompt-tuning/test/models-check.ts';

modelsSuite(
  pTuning,
  [promptTuning],
  [
    { num_virtual_tokens: 3, encoder_hidden_size: 8 },
    { num_virtual_tokens: 5, encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 4, encoder_num_layers: 1 },
  ],
);
