/**
 * Resolves a plugin specifier the way the user's project sees it: bare package names from `node_modules` above the
 * `from` directory (default: the current working directory), relative paths against that directory.
 *
 * Why not `createRequire(...).resolve`: it uses the `require` condition and fails on ESM-only packages whose
 * `exports` offer only `import`. Why not `import.meta.resolve(spec, parent)`: Node 20 ignores the parent without
 * --experimental-import-meta-resolve, and Deno has no parent argument. So the package's `exports` are read here,
 * with the `import`, `node` and `default` conditions (Node's own ESM resolution) and the user's.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Node's ESM conditions plus the user's own (`--conditions` / `-C` in the process flags or NODE_OPTIONS,
 * DENO_CONDITIONS), so a plugin resolves as the runtime itself would resolve it in this process.
 */
function conditions(): Set<string> {
  const proc = globalThis.process;
  const args = [...(proc?.execArgv ?? []), ...(proc?.env?.NODE_OPTIONS ?? '').split(/\s+/)];
  const found = ['import', 'node', 'default', ...(proc?.env?.DENO_CONDITIONS ?? '').split(',')];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const inline = /^(?:--conditions|-C)=(.+)$/.exec(arg);
    if (inline) found.push(inline[1] as string);
    else if ((arg === '--conditions' || arg === '-C') && i + 1 < args.length) found.push(args[++i] as string);
  }
  return new Set(found.filter(Boolean));
}

export interface Resolved {
  /** What to pass to import(): a file: URL, or the specifier unchanged when it has a scheme. */
  readonly url: string;
  /** False when a bare name was found in no node_modules above `from` (import() may still find it elsewhere). */
  readonly found: boolean;
}

/** The directory `from` names: a directory path or file: URL as is, a file's folder otherwise. */
export function baseDirectory(from: string | URL | undefined): string {
  const raw = from ?? globalThis.process?.cwd?.() ?? '.';
  const path = raw instanceof URL || raw.startsWith('file:') ? fileURLToPath(raw) : resolve(raw);
  try {
    return statSync(path).isDirectory() ? path : dirname(path);
  } catch {
    return path.endsWith('/') || path.endsWith('\\') ? path : dirname(path);
  }
}

const hasScheme = (s: string) => /^[A-Za-z][A-Za-z0-9+.-]+:/.test(s) && !/^[A-Za-z]:[\\/]/.test(s);
export const isPathSpecifier = (s: string): boolean =>
  s.startsWith('./') || s.startsWith('../') || s === '.' || s === '..' || isAbsolute(s) || /^[A-Za-z]:[\\/]/.test(s);

/** Resolves `specifier` for import() as seen from `from` (see the module comment). */
export function resolvePluginSpecifier(specifier: string, from?: string | URL): Resolved {
  if (hasScheme(specifier)) return { url: specifier, found: true };
  const base = baseDirectory(from);
  if (isPathSpecifier(specifier)) return { url: pathToFileURL(resolve(base, specifier)).href, found: true };
  const match = /^((?:@[^/]+\/)?[^/]+)(\/.*)?$/.exec(specifier);
  if (match === null) return { url: specifier, found: false };
  const name = match[1] as string;
  const subpath = `.${match[2] ?? ''}`;
  for (let dir = base; ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', name);
    if (existsSync(join(pkgDir, 'package.json'))) {
      const file = packageEntry(pkgDir, subpath);
      if (file !== undefined) return { url: pathToFileURL(file).href, found: true };
    }
    if (dirname(dir) === dir) return { url: specifier, found: false };
  }
}

function packageEntry(pkgDir: string, subpath: string): string | undefined {
  let pkg: { exports?: unknown; main?: unknown };
  try {
    pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    return undefined;
  }
  if (pkg.exports !== undefined && pkg.exports !== null) {
    const target = exportsTarget(pkg.exports, subpath, conditions());
    return target === undefined ? undefined : join(pkgDir, target);
  }
  const main = subpath === '.' ? (typeof pkg.main === 'string' ? pkg.main : 'index.js') : subpath;
  for (const candidate of [main, `${main}.js`, join(main, 'index.js')]) {
    const file = join(pkgDir, candidate);
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  return undefined;
}

/** The `exports` entry for a subpath: exact keys, then `*` patterns, then conditions. */
function exportsTarget(exports: unknown, subpath: string, active: Set<string>): string | undefined {
  const isSubpathMap =
    typeof exports === 'object' &&
    !Array.isArray(exports) &&
    Object.keys(exports as object).some((k) => k.startsWith('.'));
  if (!isSubpathMap) return subpath === '.' ? conditional(exports, undefined, active) : undefined;
  const map = exports as Record<string, unknown>;
  if (Object.hasOwn(map, subpath)) return conditional(map[subpath], undefined, active);
  for (const [key, value] of Object.entries(map)) {
    const star = key.indexOf('*');
    if (star === -1) continue;
    const [prefix, suffix] = [key.slice(0, star), key.slice(star + 1)];
    if (subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= key.length - 1) {
      return conditional(value, subpath.slice(prefix.length, subpath.length - suffix.length), active);
    }
  }
  return undefined;
}

/** The first target whose condition is active, in the order the package lists them (Node's rule). */
function conditional(target: unknown, star: string | undefined, active: Set<string>): string | undefined {
  if (typeof target === 'string') return star === undefined ? target : target.replaceAll('*', star);
  if (Array.isArray(target)) {
    for (const t of target) {
      const r = conditional(t, star, active);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  if (typeof target === 'object' && target !== null) {
    for (const [condition, value] of Object.entries(target)) {
      if (!active.has(condition)) continue;
      const r = conditional(value, star, active);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}
