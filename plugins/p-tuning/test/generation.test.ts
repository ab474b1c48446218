import pTuning from '@peftkit/p-tuning';
import promptTuning from '@peftkit/prompt-tuning';
import { generationSuite } from '../../prompt-tuning/test/generation-check.ts';

generationSuite(
  pTuning,
  [promptTuning],
  [
    { num_virtual_tokens: 4, encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 8 },
    { num_virtual_tokens: 3, encoder_hidden_size: 12 },
  ],
);
