import type { MethodHandle, ModelGraph } from '@peftkit/core';
import type { LoraHandle } from './types.ts';

/** Digits grouped by commas, like Python's `{:,d}` (no Intl dependency). */
function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * PEFT's `print_trainable_parameters` line. All params = base + adapter parameters; trained biases count once, as in
 * PEFT where they are the base model's own biases.
 */
export function trainableParameterReport(model: ModelGraph, handle: MethodHandle): string {
  let base = 0;
  for (const v of model.parameters().values()) base += v.size;
  const trainable = handle.trainableVariables.reduce((sum, v) => sum + v.size, 0);
  const biases = (handle as Partial<LoraHandle>).biases ?? [];
  const shared = biases.reduce((sum, b) => sum + b.bias.size, 0);
  const all = base + trainable - shared;
  return (
    `trainable params: ${grouped(trainable)} || all params: ${grouped(all)} || trainable%: ` +
    `${((100 * trainable) / all).toFixed(4)}`
  );
}
