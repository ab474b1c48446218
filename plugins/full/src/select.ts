import { type ModelGraph, PeftkitError, type Tf } from '@peftkit/core';
import type { FullConfig } from './config.ts';

/** tfjs types through the core's `Tf` (plugins never import tfjs themselves). */
export type Variable = ReturnType<Tf['variable']>;
export type Tensor = ReturnType<Tf['tensor']>;

/** Base parameters `config.trainable` selects, in the model's parameter order (Hugging Face names). */
export function selectParameters(model: ModelGraph, config: FullConfig): { names: string[]; variables: Variable[] } {
  const patterns = (config.trainable ?? []).map((source) => {
    try {
      return new RegExp(source);
    } catch (error) {
      throw new PeftkitError(
        'PEFTKIT_E_CONFIG_INVALID',
        `full: trainable pattern '${source}' is not a valid regular expression`,
        {
          pattern: source,
          reason: (error as Error).message,
        },
      );
    }
  });
  const names: string[] = [];
  const variables: Variable[] = [];
  for (const [name, variable] of model.parameters()) {
    if (config.trainable === null || patterns.some((p) => p.test(name))) {
      names.push(name);
      variables.push(variable);
    }
  }
  if (variables.length === 0) {
    throw new PeftkitError(
      'PEFTKIT_E_CONFIG_INVALID',
      `full: no base parameter matches trainable ${JSON.stringify(config.trainable)}`,
      {
        trainable: config.trainable,
      },
    );
  }
  return { names, variables };
}
