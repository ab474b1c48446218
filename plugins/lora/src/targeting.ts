import {
  type EmbeddingSite,
  isTargeted,
  type LinearSite,
  type ModelGraph,
  PeftkitError,
  patternKey,
} from '@peftkit/core';
import { DEFAULT_TARGET_MODULES, type LoraConfig, loraScaling } from './config.ts';

/**
 * Which sites a LoRA config adapts, with each site's rank, alpha and scaling. The matching rules themselves
 * (PEFT's `check_target_module_exists` / `get_pattern_key`) are core's shared targeting helpers.
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
      throw new PeftkitError(
        'PEFTKIT_E_CONFIG_INVALID',
        `no default target_modules for architecture '${model.arch}'; set target_modules`,
        {
          arch: model.arch,
        },
      );
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
    if (site.kind === 'block' || site.kind === 'norm') {
      const what = site.kind === 'block' ? `a ${site.role} block` : 'a norm';
      throw new PeftkitError(
        'PEFTKIT_E_CONFIG_INVALID',
        `target '${site.name}' is ${what}; LoRA adapts linear and embedding modules only`,
        {
          site: site.name,
        },
      );
    }
    const { r, alpha } = rankAndAlpha(config, site.name);
    const scaling = loraScaling(alpha, r, config.use_rslora);
    targets.push(
      site.kind === 'linear'
        ? { kind: 'linear', site, r, alpha, scaling }
        : { kind: 'embedding', site, r, alpha, scaling },
    );
  }
  if (targets.length === 0) {
    throw new PeftkitError(
      'PEFTKIT_E_TARGET_NOT_FOUND',
      `target modules ${JSON.stringify(targetModules)} not found in the base model (${model.arch})`,
      {
        targetModules,
        arch: model.arch,
      },
    );
  }
  return { targets, targetModules };
}

export { isTargeted, patternKey };
