import { type MethodContext, PeftkitError } from '@peftkit/core';
import { type FullConfig, FullConfigSchema, METHOD_KEY } from './config.ts';
import type { Tensor, Variable } from './select.ts';

/** Keys of the saved config file that are informational only. */
const INFO_KEYS = new Set([METHOD_KEY, 'plugin_version', 'architecture', 'parameters']);

/** Reads peftkit_full_config.json leniently: unknown keys are warned about and ignored. */
export function parseSavedConfig(ctx: MethodContext, raw: Readonly<Record<string, unknown>>): FullConfig {
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key in FullConfigSchema.shape) picked[key] = value;
    else if (!INFO_KEYS.has(key)) ctx.log.warn(`full: ignoring unknown config key '${key}'`);
  }
  const parsed = FullConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const text = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PeftkitError('PEFTKIT_E_ADAPTER_CONFIG', `invalid full fine-tuning config: ${text}`, {
      issues: parsed.error.issues,
    });
  }
  return parsed.data;
}

/**
 * Checks that `tensors` holds exactly one float32 tensor of the right shape per selected parameter (strict: a missing,
 * misshaped or unexpected key is an error) and, when `write` is set, assigns them. Returns the tensors by name.
 */
export function assignSaved(
  names: readonly string[],
  variables: readonly Variable[],
  tensors: Readonly<Record<string, Tensor>>,
  write: boolean,
): Readonly<Record<string, Tensor>> {
  const wanted = new Set(names);
  for (const key of Object.keys(tensors)) {
    if (!wanted.has(key))
      throw new PeftkitError(
        'PEFTKIT_E_ADAPTER_KEY_UNEXPECTED',
        `full: saved tensor '${key}' is not a selected model parameter`,
        { key },
      );
  }
  for (const [i, name] of names.entries()) {
    const t = tensors[name];
    const v = variables[i] as Variable;
    if (t === undefined)
      throw new PeftkitError('PEFTKIT_E_ADAPTER_KEY_MISSING', `full: saved weights lack '${name}'`, { key: name });
    if (t.shape.join(',') !== v.shape.join(',') || t.dtype !== 'float32') {
      throw new PeftkitError(
        'PEFTKIT_E_ADAPTER_KEY_SHAPE',
        `full: '${name}' is ${t.dtype} [${t.shape}], the model needs float32 [${v.shape}]`,
        { key: name },
      );
    }
    if (write) v.assign(t);
  }
  return tensors;
}
