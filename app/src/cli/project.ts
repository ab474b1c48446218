/**
 * The user's project config: `peftkit.config.json` in the working directory, else a `peftkit` field in its
 * package.json. Lists third-party plugins and defaults for options the user would otherwise repeat.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { PeftkitError } from '@peftkit/io';

const ProjectConfigSchema = z.strictObject({
  /** Method plugin specifiers: package names, or paths relative to the config file. */
  plugins: z.array(z.string().min(1)).default([]),
  /** Default tensor backend (--backend and PEFTKIT_BACKEND win). */
  backend: z.string().min(1).optional(),
  /** Default --model directory (relative to the config file). */
  model: z.string().min(1).optional(),
});

export interface ProjectConfig {
  readonly plugins: readonly string[];
  readonly backend?: string;
  readonly model?: string;
  /** The file it came from, or undefined when the project has none. */
  readonly file?: string;
}

const isRelativePath = (s: string) => s.startsWith('./') || s.startsWith('../') || s === '.' || s === '..';

/** Reads the project config of `cwd`; a malformed one is PEFTKIT_E_PROJECT_CONFIG naming the file. */
export function readProjectConfig(cwd: string = process.cwd()): ProjectConfig {
  const configFile = join(cwd, 'peftkit.config.json');
  const packageFile = join(cwd, 'package.json');
  let file: string;
  let raw: unknown;
  if (existsSync(configFile)) {
    file = configFile;
    raw = parseJson(file);
  } else if (existsSync(packageFile)) {
    file = packageFile;
    const pkg = parseJson(file);
    raw = typeof pkg === 'object' && pkg !== null ? (pkg as { peftkit?: unknown }).peftkit : undefined;
    if (raw === undefined) return { plugins: [] };
    file = `${packageFile} ("peftkit" field)`;
  } else return { plugins: [] };
  const parsed = ProjectConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PeftkitError('PEFTKIT_E_PROJECT_CONFIG', `${file}: ${issues}`, { file });
  }
  // Paths in the file are relative to it, not to wherever a command later resolves them.
  const dir = dirname(file.replace(/ \("peftkit" field\)$/, ''));
  const plugins = parsed.data.plugins.map((p) => (isRelativePath(p) ? resolve(dir, p) : p));
  return {
    plugins,
    file,
    ...(parsed.data.backend ? { backend: parsed.data.backend } : {}),
    ...(parsed.data.model ? { model: resolve(dir, parsed.data.model) } : {}),
  };
}

function parseJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new PeftkitError('PEFTKIT_E_PROJECT_CONFIG', `${file}: ${(error as Error).message}`, { file });
  }
}
