import type { MethodHandle } from '@peftkit/core';
import type { LoraHandle } from '@peftkit/lora';
import type { Quantized4 } from './blockwise4.ts';
import type { Quantization } from './config.ts';
import type { QuantizedLinearBase } from './quantized-linear.ts';

/** A QLoRA adapter: LoRA's handle on a quantized base, plus what merge needs to restore the packed weights exactly. */
export interface QloraHandle extends MethodHandle {
  readonly lora: LoraHandle;
  readonly quantization: Quantization;
  /** Per quantized base touched by the current merge: its packed state before and right after the merge. */
  readonly mergeStates: Map<QuantizedLinearBase, { readonly before: Quantized4; readonly after: Quantized4 }>;
  readonly trainableVariables: LoraHandle['trainableVariables'];
  readonly merged: boolean;
}

export function createHandle(lora: LoraHandle, quantization: Quantization): QloraHandle {
  return {
    lora,
    quantization,
    mergeStates: new Map(),
    get trainableVariables() {
      return lora.trainableVariables;
    },
    get merged() {
      return lora.merged;
    },
  };
}
