import { conformanceSuite } from '@peftkit/testing';
import full from '@peftkit/full';

// The kit's checks; full fine-tuning is exclusive (one per model: it trains the base itself), so the two-adapter
// check verifies that a second one is refused, and merge is 'never' (the refusal is checked).
conformanceSuite({ plugin: full, name: 'full (every parameter)', config: {}, exclusive: true });
conformanceSuite({
  plugin: full,
  name: 'full (layer 1 + norms)',
  config: { trainable: ['layers\\.1\\.', 'norm'] },
  exclusive: true,
});
conformanceSuite({ plugin: full, name: 'full seq-cls', task: 'seq-cls', config: {}, exclusive: true });
