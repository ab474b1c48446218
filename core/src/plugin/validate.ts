import semver from 'semver';
import { z } from 'zod';
import { PeftkitError } from '@peftkit/io';
import { type ConfigIssue, type MethodPlugin, PLUGIN_API_VERSION } from './contract.ts';

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', 'expected a function');

const PluginShape = z.object({
  meta: z.object({
    name: z.string().regex(/^[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*$/, 'lower-case letters, digits and - _ . separators'),
    version: z.string().refine((v) => semver.valid(v) !== null, 'not a semver version'),
    core: z.string().refine((v) => semver.validRange(v) !== null, 'not a semver range'),
    family: z.enum(['reparam', 'additive', 'prompt']),
    dependencies: z
      .record(
        z.string(),
        z.string().refine((v) => semver.validRange(v) !== null, 'not a semver range'),
      )
      .optional(),
    description: z.string().optional(),
    peftType: z.string().optional(),
  }),
  configSchema: z.custom<{ safeParse: unknown }>(
    (v) => typeof v === 'object' && v !== null && typeof (v as { safeParse?: unknown }).safeParse === 'function',
    'expected a zod-like schema with safeParse',
  ),
  capabilities: z.object({
    merge: z.enum(['exact', 'dequantize', 'never']),
    identityAtInit: z.boolean(),
    mixedBatch: z.boolean(),
    mergeTolerance: z.number().positive().optional(),
  }),
  inject: fn,
  merge: fn.optional(),
  unmerge: fn.optional(),
  save: fn,
  load: fn,
  dispose: fn,
  recognizes: fn.optional(),
  saveCheckpoint: fn.optional(),
  combine: fn.optional(),
  stats: fn.optional(),
});

/** Checks the shape of a plugin object (it may come from an untrusted package) and its core range. */
export function validatePluginObject(value: unknown, source = 'plugin'): MethodPlugin {
  const parsed = PluginShape.safeParse(value);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PeftkitError('PEFTKIT_E_PLUGIN_INVALID', `${source} is not a valid method plugin: ${where}`, {
      source,
      issues: parsed.error.issues,
    });
  }
  const plugin = value as MethodPlugin;
  const { name, core } = plugin.meta;
  const canMerge = plugin.capabilities.merge !== 'never';
  if (canMerge !== (typeof plugin.merge === 'function' && typeof plugin.unmerge === 'function')) {
    throw new PeftkitError(
      'PEFTKIT_E_PLUGIN_INVALID',
      canMerge
        ? `plugin '${name}' declares merge '${plugin.capabilities.merge}' but lacks merge/unmerge hooks`
        : `plugin '${name}' declares merge 'never' but defines merge/unmerge hooks`,
      { plugin: name },
    );
  }
  if (!semver.satisfies(PLUGIN_API_VERSION, core)) {
    throw new PeftkitError(
      'PEFTKIT_E_PLUGIN_VERSION',
      `plugin '${name}' expects plugin API '${core}', but this core provides '${PLUGIN_API_VERSION}'`,
      {
        plugin: name,
        expected: core,
        actual: PLUGIN_API_VERSION,
      },
    );
  }
  assertStrictSchema(plugin);
  return plugin;
}

/** A config schema must reject unknown keys: probe it with one and look for zod's `unrecognized_keys` issue. */
function assertStrictSchema(plugin: MethodPlugin): void {
  const probe = plugin.configSchema.safeParse({ __peftkit_unknown_key__: true });
  const strict = !probe.success && probe.error.issues.some((i: ConfigIssue) => i.code === 'unrecognized_keys');
  if (!strict) {
    throw new PeftkitError(
      'PEFTKIT_E_PLUGIN_INVALID',
      `plugin '${plugin.meta.name}': configSchema must reject unknown keys (use z.strictObject)`,
      {
        plugin: plugin.meta.name,
      },
    );
  }
}

/** Parses a method config strictly; unknown keys and wrong types give PEFTKIT_E_CONFIG_INVALID. */
export function parseConfig<Cfg>(
  plugin: { readonly meta: { readonly name: string }; readonly configSchema: MethodPlugin<Cfg>['configSchema'] },
  raw: unknown,
): Cfg {
  const result = plugin.configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues;
  const text = issues
    .map((i) =>
      i.code === 'unrecognized_keys'
        ? `unknown key(s) ${(i.keys ?? []).map((k) => `'${k}'`).join(', ')}`
        : `${i.path.join('.') || '(root)'}: ${i.message}`,
    )
    .join('; ');
  throw new PeftkitError('PEFTKIT_E_CONFIG_INVALID', `invalid ${plugin.meta.name} config: ${text}`, {
    plugin: plugin.meta.name,
    issues,
  });
}
