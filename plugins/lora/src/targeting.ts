import { type EmbeddingSite, type LinearSite, type ModelGraph, PeftkitError } from '@peftkit/core';
import { DEFAULT_TARGET_MODULES, type LoraConfig, loraScaling } from './config.ts';

/**
 * Which sites a LoRA config adapts, with each site's rank, alpha and scaling — the rules of PEFT's
 * `check_target_module_exists` and `get_pattern_key`, applied to the model graph's Hugging Face module names.
 */

export interface LinearTarget {
  readonly kind: 'linear';
  readonly site: LinearSite;
  readonly r: number;
  readonly alpha: number;
  readonly scaling: number;
}

export interface EmbeddingTarget {
  readonly kind: 'embedding';
  readonly site: EmbeddingSite;
  readonly r: number;
  readonly alpha: number;
  readonly scaling: number;
}

export type Target = LinearTarget | EmbeddingTarget;

export interface TargetPlan {
  readonly targets: Target[];
  /** target_modules as PEFT writes it after resolution (defaults and `all-linear` expanded to names). */
  readonly targetModules: string[] | string;
}

const ALL_LINEAR = 'all-linear';

function fullRegex(pattern: string, field: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (error) {
    throw new PeftkitError('PEFTKIT_E_CONFIG_INVALID', `${field}: invalid regular expression '${pattern}': ${(error as Error).message}`, { field, pattern });
  }
}

/** A list entry matches a module when it is the whole name or the part after a dot. */
export function matchesEntry(name: string, entry: string): boolean {
  return name === entry || name.endsWith(`.${entry}`);
}

function excluded(name: string, exclude: LoraConfig['exclude_modules']): boolean {
  if (exclude === null) return false;
  if (typeof exclude === 'string') return fullRegex(exclude, 'exclude_modules').test(name);
  return exclude.some((e) => matchesEntry(name, e));
}

/** Layer index as PEFT reads it from the module name: `<anything>.<layers_pattern>.<index>.`. */
function layerIndex(name: string, patterns: LoraConfig['layers_pattern']): number | null {
  const list = patterns === null ? [] : typeof patterns === 'string' ? [patterns] : patterns;
  const regexes = list.length === 0 ? [/^.*\.[^.]*\.(\d+)\./] : list.map((p) => fullRegex(`.*\\.${p}\\.(\\d+)\\..*`, 'layers_pattern'));
  for (const re of regexes) {
    const m = re.exec(name);
    if (m?.[1] !== undefined) return Number(m[1]);
  }
  return null;
}

/** True when `name` is adapted: excluded first, then exact / suffix / regex / layer filters (PEFT's order). */
export function isTargeted(name: string, config: LoraConfig, targets: readonly string[] | string): boolean {
  if (excluded(name, config.exclude_modules)) return false;
  if (typeof targets === 'string') return fullRegex(targets, 'target_modules').test(name);
  if (targets.includes(name)) return true;
  if (!targets.some((t) => name.endsWith(`.${t}`))) return false;
  const layers = config.layers_to_transform;
  const filtering = layers !== null && (!Array.isArray(layers) || layers.length > 0);
  if (!filtering) return true;
  const index = layerIndex(name, config.layers_pattern);
  if (index === null) return false;
  return Array.isArray(layers) ? layers.includes(index) : index === layers;
}

/**
 * PEFT's `get_pattern_key`: the first key (in insertion order) whose regex matches the end of the module name at a
 * dot boundary — `re.match(rf"(.*\.)?({key})$", name)`.
 */
export function patternKey(keys: readonly string[], name: string, field: string): string | undefined {
  return keys.find((key) => fullRegex(`(?:.*\\.)?(?:${key})`, field).test(name));
}

export function rankAndAlpha(config: LoraConfig, name: string): { r: number; alpha: number } {
  const rKey = patternKey(Object.keys(config.rank_pattern), name, 'rank_pattern');
  const aKey = patternKey(Object.keys(config.alpha_pattern), name, 'alpha_pattern');
  return {
    r: rKey === undefined ? config.r : (config.rank_pattern[rKey] as number),
    alpha: aKey === undefined ? config.lora_alpha : (config.alpha_pattern[aKey] as number),
  };
}

/** target_modules after defaults: the per-architecture list, or every non-head linear for `all-linear`. */
export function resolveTargetModules(model: ModelGraph, config: LoraConfig): string[] | string {
  const given = config.target_modules;
  if (given === null) {
    const defaults = DEFAULT_TARGET_MODULES[model.arch];
    if (defaults === undefined) {
      throw new PeftkitError('PEFTKIT_E_CONFIG_INVALID', `no default target_modules for architecture '${model.arch}'; set target_modules`, {
        arch: model.arch,
      });
    }
    return [...defaults];
  }
  if (typeof given === 'string' && given.toLowerCase() === ALL_LINEAR) {
    const names: string[] = [];
    for (const site of model.sites()) if (site.kind === 'linear' && !site.isHead) names.push(site.name);
    return names.sort();
  }
  return typeof given === 'string' ? given : [...given];
}

/** Resolves a config against a model; a config that adapts nothing is an error, as in PEFT. */
export function planTargets(model: ModelGraph, config: LoraConfig, skip: ReadonlySet<string> = new Set()): TargetPlan {
  const targetModules = resolveTargetModules(model, config);
  const targets: Target[] = [];
  for (const site of model.sites()) {
    if (skip.has(site.name) || !isTargeted(site.name, config, targetModules)) continue;
    if (site.kind === 'block') {
      throw new PeftkitError('PEFTKIT_E_CONFIG_INVALID', `target '${site.name}' is a ${site.role} block; LoRA adapts linear and embedding modules only`, {
        site: site.name,
      });
    }
    const { r, alpha } = rankAndAlpha(config, site.name);
    const scaling = loraScaling(alpha, r, config.use_rslora);
    targets.push(site.kind === 'linear' ? { kind: 'linear', site, r, alpha, scaling } : { kind: 'embedding', site, r, alpha, scaling });
  }
  if (targets.length === 0) {
    throw new PeftkitError('PEFTKIT_E_TARGET_NOT_FOUND', `target modules ${JSON.stringify(targetModules)} not found in the base model (${model.arch})`, {
      targetModules,
      arch: model.arch,
    });
  }
  return { targets, targetModules };
}
