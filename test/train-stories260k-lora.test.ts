import { fineTuneTest } from './support/stories-finetune.ts';

// LoRA on the real stories260K through the core loop, on held-out Moby-Dick
// text (see test/support/stories-finetune.ts).
fineTuneTest('lora');
