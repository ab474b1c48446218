import { fineTuneTest } from './support/stories-finetune.ts';

// Full fine-tuning of the real stories260K on held-out Moby-Dick text (see test/support/stories-finetune.ts).
fineTuneTest('full');
