import type { Variable } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { Tf } from '../runtime/types.ts';
import type { SavedAdapter } from './contract.ts';

/**
 * Assigns a saved adapter tensor to a variable, for plugins' `load` hooks: the first of `keys` present is used
 * (checkpoint key aliases), its shape must match exactly (`transpose`: the file holds the [in, out] layout), and
 * the key is added to `used` so leftovers can be reported. Missing or misshaped tensors are coded errors naming the
 * key.
 */
export function assignSavedTensor(
  tf: Tf,
  saved: SavedAdapter,
  keys: string | readonly string[],
  target: Variable,
  used: Set<string>,
  options: { transpose?: boolean } = {},
): void {
  const candidates = typeof keys === 'string' ? [keys] : keys;
  const key = candidates.find((k) => saved.tensors[k] !== undefined);
  if (key === undefined) {
    throw new PeftkitError('PEFTKIT_E_ADAPTER_KEY_MISSING', `adapter weights lack '${candidates[0]}'`, {
      key: candidates[0],
    });
  }
  const tensor = saved.tensors[key] as NonNullable<SavedAdapter['tensors'][string]>;
  const expected = options.transpose ? [...target.shape].reverse() : target.shape;
  if (tensor.shape.length !== expected.length || tensor.shape.some((d, i) => d !== expected[i])) {
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_KEY_SHAPE',
      `'${key}' has shape [${tensor.shape}], expected [${expected}]`,
      {
        key,
        shape: tensor.shape,
        expected,
      },
    );
  }
  used.add(key);
  tf.tidy(() => target.assign(options.transpose ? tf.transpose(tensor) : tf.cast(tensor, 'float32')));
}
