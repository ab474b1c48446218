// @ts-self-types="./import-graph.d.mts"
// Import-graph guard: finds every import edge in the repository and reports the ones the package layout forbids
// (see ARCHITECTURE.md). `node scripts/import-graph.mjs` prints them and exits 1; test/import-graph.test.ts runs it.
// Plain Node ESM with no dependencies so it runs before `npm install` and under Node, Deno and Bun alike.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Package folders → package names. Plugins (plugins/<dir>) are added from their folders. */
const PACKAGES = [
  ['packages/io', '@peftkit/io'],
  ['core', '@peftkit/core'],
  ['packages/models', '@peftkit/models'],
  ['packages/data', '@peftkit/data'],
  ['packages/testing', '@peftkit/testing'],
  ['adapters', '@peftkit/adapters'],
  ['server', '@peftkit/server'],
  ['app', 'peftkit'],
];

/** Repository tooling: may import anything, deep relative paths included. */
const TOOLING = ['test', 'bench', 'scripts'];

/**
 * What a package's own code may import of peftkit (its tests may import any package's public entry).
 * 'PLUGIN_DEPS' = the plugins in its package.json peerDependencies/dependencies; '*' = everything.
 */
export const MAY_IMPORT = {
  '@peftkit/io': [],
  '@peftkit/core': ['@peftkit/io'],
  '@peftkit/models': ['@peftkit/core', '@peftkit/io'],
  '@peftkit/data': ['@peftkit/core', '@peftkit/io'],
  '@peftkit/testing': ['@peftkit/core', '@peftkit/io', '@peftkit/adapters', '@peftkit/models'],
  '@peftkit/adapters': ['@peftkit/core'],
  plugin: ['@peftkit/core', 'PLUGIN_DEPS'],
  '@peftkit/server': ['@peftkit/core', '@peftkit/models', '@peftkit/io', '@peftkit/data'],
  peftkit: ['*'],
};

/** Public entries when a package has no package.json to read them from (the test's fake repositories). */
const DEFAULT_EXPORTS = { '@peftkit/core': ['.', './train'] };
const SKIP_DIRS = new Set(['node_modules', '.git', '.peftkit-cache', 'dist']); // dist: npm run build output
const SKIP_PATHS = new Set(['app/assets', 'bench/results']);
const SOURCE = /\.(?:ts|mjs|js)$/;
/** Keywords after which `/` starts a regex literal rather than a division. */
const REGEX_AFTER_WORD = new Set(
  'return typeof instanceof in of new delete void throw case do else yield await'.split(' '),
);

const posix = (path) => path.split(sep).join('/');
const readJson = (path) => (existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined);

/**
 * Blanks comments and replaces each string/template literal by `\0N\0` (N indexes `strings`), so import-like text
 * inside comments or strings is never taken for an import. Regex literals are told from division by the previous token.
 */
export function maskSource(src) {
  const strings = [];
  const frames = []; // open `${ … }` expressions: brace depth and the template they belong to
  let out = '';
  let prev = '';
  let word = '';
  let i = 0;
  const emitString = (value, at) => {
    strings.push({ value, at });
    out += `\0${strings.length - 1}\0`;
    prev = '\0';
    word = '';
  };
  const readTemplate = (token) => {
    let value = '';
    while (i < src.length) {
      const c = src[i];
      if (c === '\\') {
        value += src.slice(i, i + 2);
        i += 2;
      } else if (c === '`') {
        i++;
        if (token.value !== null) token.value += value;
        return;
      } else if (c === '$' && src[i + 1] === '{') {
        i += 2;
        token.value = null; // interpolated: not a literal specifier
        frames.push({ depth: 0, token });
        prev = '{';
        return;
      } else {
        value += c;
        i++;
      }
    }
  };
  while (i < src.length) {
    const c = src[i];
    const d = src[i + 1];
    if (c === '/' && d === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end === -1 ? src.length : end + 2;
      out += src.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === '"' || c === "'") {
      const at = i;
      let value = '';
      for (i++; i < src.length && src[i] !== c && src[i] !== '\n'; i++) value += src[i] === '\\' ? src[++i] : src[i];
      i++;
      emitString(value, at);
    } else if (c === '`') {
      const token = { value: '', at: i };
      strings.push(token);
      out += `\0${strings.length - 1}\0`;
      i++;
      readTemplate(token);
      prev = '\0';
      word = '';
    } else if (c === '/' && (prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev) || REGEX_AFTER_WORD.has(word))) {
      let j = i + 1;
      let inClass = false;
      for (; j < src.length && src[j] !== '\n'; j++) {
        if (src[j] === '\\') j++;
        else if (src[j] === '[') inClass = true;
        else if (src[j] === ']') inClass = false;
        else if (src[j] === '/' && !inClass) break;
      }
      if (src[j] !== '/') {
        out += c; // not a regex after all
        prev = c;
        i++;
        continue;
      }
      for (j++; /[a-z]/i.test(src[j] ?? ''); j++);
      out += ' ';
      prev = ')';
      word = '';
      i = j;
    } else if (c === '}' && frames.length > 0 && frames[frames.length - 1].depth === 0) {
      const { token } = frames.pop();
      i++;
      readTemplate(token);
      prev = '\0';
    } else {
      if (frames.length > 0 && c === '{') frames[frames.length - 1].depth++;
      if (frames.length > 0 && c === '}') frames[frames.length - 1].depth--;
      if (/[\w$]/.test(c)) word = /[\w$]/.test(out[out.length - 1] ?? '') ? word + c : c;
      else if (!/\s/.test(c)) word = '';
      if (!/\s/.test(c)) prev = c;
      out += c;
      i++;
    }
  }
  return { code: out, strings };
}

const PATTERNS = [
  ['static', /(?<![\w$.])(?:import|export)\s[\w$*{},\s]*?\bfrom\s*\0(\d+)\0/g],
  ['side-effect', /(?<![\w$.])import\s*\0(\d+)\0/g],
  ['dynamic', /(?<![\w$.])import\s*\(\s*\0(\d+)\0\s*[,)]/g],
  ['url', /(?<![\w$.])new\s+URL\s*\(\s*\0(\d+)\0\s*,\s*import\.meta\.url\s*\)/g],
];

/** Every import specifier of one source text: { kind, specifier, line }. */
export function extractImports(src) {
  const { code, strings } = maskSource(src);
  const found = [];
  for (const [kind, pattern] of PATTERNS) {
    for (const match of code.matchAll(pattern)) {
      const { value, at } = strings[Number(match[1])];
      if (value === null || (kind === 'url' && !/\.(?:ts|mjs)$/.test(value))) continue;
      found.push({ kind, specifier: value, line: src.slice(0, at).split('\n').length });
    }
  }
  return found.sort((a, b) => a.line - b.line);
}

function listSources(root, dir = root, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const rel = posix(relative(root, path));
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name) && !SKIP_PATHS.has(rel)) listSources(root, path, out);
    } else if (entry.isFile() && SOURCE.test(entry.name)) out.push(rel);
  }
  return out;
}

/** The packages of a repository: folder, name, kind, public entries and declared dependencies. */
function loadPackages(root) {
  const folders = [...PACKAGES];
  const pluginDir = join(root, 'plugins');
  if (existsSync(pluginDir)) {
    for (const name of readdirSync(pluginDir)) {
      if (statSync(join(pluginDir, name)).isDirectory()) folders.push([`plugins/${name}`, `@peftkit/${name}`]);
    }
  }
  return folders.map(([dir, fallback]) => {
    const json = readJson(join(root, dir, 'package.json')) ?? {};
    const name = json.name ?? fallback;
    const exports = typeof json.exports === 'object' ? Object.keys(json.exports) : (DEFAULT_EXPORTS[name] ?? ['.']);
    // devDependencies do not count: a package's own code cannot rely on them once installed elsewhere.
    const lists = [json.dependencies, json.peerDependencies, json.optionalDependencies];
    const deps = new Set(lists.flatMap((d) => Object.keys(d ?? {})));
    return { dir, name, kind: dir.startsWith('plugins/') ? 'plugin' : name, exports, deps };
  });
}

/** Where a repository-relative path belongs: its package (or tooling folder) and whether it is test/bench code. */
function locate(packages, rel) {
  if (rel.startsWith('../') || rel === '..') return { owner: null };
  const top = rel.split('/')[0];
  if (TOOLING.includes(top)) return { owner: { name: top, dir: top, kind: 'tooling' } };
  const owner = packages.find((p) => rel.startsWith(`${p.dir}/`));
  if (owner === undefined) return { owner: { name: '(root)', dir: '', kind: 'tooling' } };
  const inner = rel.slice(owner.dir.length + 1);
  return { owner, inner, test: /^(?:test|bench)\//.test(inner) };
}

function bareTarget(packages, specifier) {
  const m = /^(@peftkit\/[^/]+|peftkit)(?:\/(.*))?$/.exec(specifier);
  if (m === null) return undefined;
  const name = m[1];
  const known = packages.find((p) => p.name === name);
  // An unknown @peftkit/x is taken for a plugin that is not in this repository.
  const pkg = known ?? { name, dir: `plugins/${name.slice(9)}`, kind: 'plugin', exports: ['.'], deps: new Set() };
  return { pkg, subpath: m[2] === undefined ? '.' : `./${m[2]}` };
}

function allowedPeftkit(from) {
  const rule = MAY_IMPORT[from.kind] ?? [];
  if (rule.includes('*')) return null;
  const isPlugin = (d) => d.startsWith('@peftkit/') && d !== '@peftkit/core';
  const plugins = rule.includes('PLUGIN_DEPS') ? [...from.deps].filter(isPlugin) : [];
  return [...rule.filter((r) => r !== 'PLUGIN_DEPS'), ...plugins];
}

/** The reason an edge is forbidden, or null when it is allowed. */
function judge(root, packages, file, imp) {
  const here = locate(packages, file);
  const from = here.owner;
  if (from.kind === 'tooling') return null;
  const { specifier } = imp;
  if (specifier.startsWith('.') || specifier.startsWith('/') || imp.kind === 'url') {
    const target = posix(relative(root, resolve(root, dirname(file), specifier)));
    const there = locate(packages, target);
    if (there.owner?.dir === from.dir) return null;
    // Tests may share the repository's test helpers and fixtures (they never ship in a package).
    const helper = /^plugins\/[^/]+\/test\/[^/]+\.ts$/.test(target) || /^test\/(support|fixtures)\//.test(target);
    if (here.test && helper) return null;
    const where = there.owner === null ? 'outside the repository' : `into ${there.owner.name} (${target})`;
    return `relative import leaves ${from.dir}/ ${where}; import a public entry by package name instead`;
  }
  const bare = bareTarget(packages, specifier);
  if (bare === undefined) {
    const lib = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
    if (from.name === '@peftkit/core' && lib === 'tsyringe' && file !== 'core/src/di/scope.ts') {
      return 'only core/src/di/scope.ts may import tsyringe (the DI container stays behind Scope)';
    }
    if (from.kind === 'plugin' && !here.test && !lib.startsWith('node:') && !from.deps.has(lib)) {
      return `plugin imports '${lib}', which its package.json does not declare`;
    }
    return null;
  }
  const { pkg, subpath } = bare;
  if (pkg.name === from.name) return null;
  if (!pkg.exports.includes(subpath)) {
    return `'${specifier}' is not a public entry of ${pkg.name} (exports: ${pkg.exports.join(', ')})`;
  }
  if (here.test) return null;
  const allowed = allowedPeftkit(from);
  if (allowed === null || allowed.includes(pkg.name)) return null;
  const what = pkg.kind === 'plugin' ? 'the method plugin' : 'package';
  return `${from.name} may not import ${what} ${pkg.name} (allowed: ${allowed.join(', ') || 'no peftkit package'})`;
}

/**
 * Forbidden import edges of the repository at `root`, sorted by file and line.
 * @param {string} root repository root directory
 * @returns {{ file: string; line: number; kind: string; specifier: string; reason: string }[]}
 */
export function findViolations(root) {
  const packages = loadPackages(root);
  const violations = [];
  for (const file of listSources(root).sort()) {
    for (const imp of extractImports(readFileSync(join(root, file), 'utf8'))) {
      const reason = judge(root, packages, file, imp);
      if (reason !== null) violations.push({ file, line: imp.line, kind: imp.kind, specifier: imp.specifier, reason });
    }
  }
  return violations;
}

/** One line per violation: `file:line  'specifier'  reason`. */
export function formatViolations(violations) {
  return violations.map((v) => `${v.file}:${v.line}  '${v.specifier}'  ${v.reason}`).join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const violations = findViolations(fileURLToPath(new URL('..', import.meta.url)));
  if (violations.length > 0) {
    console.error(`${formatViolations(violations)}\n\n${violations.length} forbidden import edge(s)`);
    process.exit(1);
  }
  console.log('import graph: no forbidden edges');
}
