import { z } from 'zod';
import { PeftkitError } from '../errors.ts';

/**
 * PEFT's module targeting, shared by every method plugin: `target_modules` (list or regex), `exclude_modules`,
 * `layers_to_transform` and `layers_pattern`, with the rules of PEFT's `check_target_module_exists` and
 * `get_pattern_key`, applied to the model graph's Hugging Face module names.
 */
export interface TargetingConfig {
  /** List: exact name or suffix after a dot; string: full regex match. */
  readonly target_modules: readonly string[] | string | null;
  readonly exclude_modules?: readonly string[] | string | null;
  readonly layers_to_transform?: number | readonly number[] | null;
  readonly layers_pattern?: string | readonly string[] | null;
}

const names = z.union([z.array(z.string().min(1)), z.string().min(1)]);

/** The zod fields of a PEFT targeting config, with PEFT's defaults; spread them into a method's schema. */
export const targetingFields = {
  target_modules: names.nullable().default(null),
  exclude_modules: names.nullable().default(null),
  layers_to_transform: z
    .union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())])
    .nullable()
    .default(null),
  layers_pattern: z
    .union([z.string().min(1), z.array(z.string().min(1))])
    .nullable()
    .default(null),
};

/** PEFT's `__post_init__` restrictions on targeting fields, as zod issues (call from a schema's superRefine). */
export function targetingIssues(c: TargetingConfig): { path: string[]; message: string }[] {
  const issues: { path: string[]; message: string }[] = [];
  const layered = (c.layers_to_transform ?? null) !== null || (c.layers_pattern ?? null) !== null;
  if (typeof c.target_modules === 'string' && layered) {
    issues.push({
      path: ['layers_to_transform'],
      message: 'layers_to_transform / layers_pattern cannot be used when target_modules is a string',
    });
  }
  if ((c.layers_pattern ?? null) !== null && (c.layers_to_transform ?? null) === null) {
    issues.push({ path: ['layers_pattern'], message: 'layers_pattern requires layers_to_transform' });
  }
  return issues;
}

/** `^(?:pattern)$` with a coded error naming the config field for an invalid pattern. */
export function fullRegex(pattern: string, field: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (error) {
    throw new PeftkitError(
      'PEFTKIT_E_CONFIG_INVALID',
      `${field}: invalid regular expression '${pattern}': ${(error as Error).message}`,
      {
        field,
        pattern,
      },
    );
  }
}

/** A list entry matches a module when it is the whole name or the part after a dot. */
export function matchesEntry(name: string, entry: string): boolean {
  return name === entry || name.endsWith(`.${entry}`);
}

function excluded(name: string, exclude: TargetingConfig['exclude_modules']): boolean {
  if (exclude === null || exclude === undefined) return false;
  if (typeof exclude === 'string') return fullRegex(exclude, 'exclude_modules').test(name);
  return exclude.some((e) => matchesEntry(name, e));
}

/** Layer index as PEFT reads it from the module name: `<anything>.<layers_pattern>.<index>.`. */
export function layerIndex(name: string, patterns: TargetingConfig['layers_pattern']): number | null {
  const list = patterns === null || patterns === undefined ? [] : typeof patterns === 'string' ? [patterns] : patterns;
  const regexes =
    list.length === 0
      ? [/^.*\.[^.]*\.(\d+)\./]
      : list.map((p) => fullRegex(`.*\\.${p}\\.(\\d+)\\..*`, 'layers_pattern'));
  for (const re of regexes) {
    const m = re.exec(name);
    if (m?.[1] !== undefined) return Number(m[1]);
  }
  return null;
}

/**
 * True when `name` is targeted: excluded first, then exact / suffix / regex / layer filters (PEFT's order).
 * `targets` is the resolved target_modules (defaults expanded by the method).
 */
export function isTargeted(name: string, config: TargetingConfig, targets: readonly string[] | string): boolean {
  if (excluded(name, config.exclude_modules)) return false;
  if (typeof targets === 'string') return fullRegex(targets, 'target_modules').test(name);
  if (targets.includes(name)) return true;
  if (!targets.some((t) => name.endsWith(`.${t}`))) return false;
  const layers = config.layers_to_transform ?? null;
  const filtering = layers !== null && (typeof layers === 'number' || layers.length > 0);
  if (!filtering) return true;
  const index = layerIndex(name, config.layers_pattern);
  if (index === null) return false;
  return typeof layers === 'number' ? index === layers : layers.includes(index);
}

/**
 * PEFT's `get_pattern_key`: the first key (in insertion order) whose regex matches the end of the module name at a
 * dot boundary — `re.match(rf"(.*\.)?({key})$", name)`.
 */
export function patternKey(keys: readonly string[], name: string, field: string): string | undefined {
  return keys.find((key) => fullRegex(`(?:.*\\.)?(?:${key})`, field).test(name));
}
