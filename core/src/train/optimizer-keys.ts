import type { Variable } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { OptimizerState } from './types.ts';

/**
 * Optimizers key slots by variable name (`${name}/${slot}`), but tfjs variable names differ between processes.
 * Checkpoints store the position of the variable in the adapter's trainableVariables instead (`${index}/${slot}`).
 */
export function toIndexKeys(state: OptimizerState, variables: readonly Variable[]): OptimizerState {
  const index = new Map(variables.map((v, i) => [v.name, i]));
  const slots = new Map<string, { shape: readonly number[]; values: Float32Array }>();
  for (const [key, slot] of state.slots) {
    const cut = key.lastIndexOf('/');
    const i = index.get(key.slice(0, cut));
    if (cut <= 0 || i === undefined) {
      throw new PeftkitError('PEFTKIT_E_OPTIMIZER_STATE', `optimizer slot '${key}' belongs to no trainable variable`, {
        slot: key,
      });
    }
    slots.set(`${i}${key.slice(cut)}`, slot);
  }
  return { kind: state.kind, scalars: { ...state.scalars }, slots };
}

/** Inverse of toIndexKeys for the variables of a freshly loaded adapter; checks indices and shapes. */
export function fromIndexKeys(state: OptimizerState, variables: readonly Variable[]): OptimizerState {
  const slots = new Map<string, { shape: readonly number[]; values: Float32Array }>();
  for (const [key, slot] of state.slots) {
    const cut = key.lastIndexOf('/');
    const variable = variables[Number(key.slice(0, cut))];
    if (cut <= 0 || !/^\d+$/.test(key.slice(0, cut)) || variable === undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_OPTIMIZER_STATE',
        `optimizer slot '${key}' does not match the adapter's ${variables.length} variables`,
        {
          slot: key,
        },
      );
    }
    if (variable.shape.join(',') !== slot.shape.join(',')) {
      throw new PeftkitError(
        'PEFTKIT_E_OPTIMIZER_STATE',
        `optimizer slot '${key}' has shape [${slot.shape}], the variable has [${variable.shape}]`,
        {
          slot: key,
        },
      );
    }
    slots.set(`${variable.name}${key.slice(cut)}`, slot);
  }
  return { kind: state.kind, scalars: { ...state.scalars }, slots };
}
