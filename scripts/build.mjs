#!/usr/bin/env node
// `npm run build`: compiles every published workspace package to dist/ (JavaScript, .d.ts, source maps) in dependency
// order — each package's tsconfig.build.json resolves its peftkit dependencies to their already-built dist/*.d.ts.
// Usage: node scripts/build.mjs [package-dir …]   (no argument: all of them)
// Tests never need this: in the repository they run against src/ through the `peftkit:source` export condition.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Plugins after the plugins they declare (prompt-tuning before p-tuning, prefix-tuning before p-tuning-v2, …). */
function pluginOrder() {
  const dirs = readdirSync(join(root, 'plugins')).filter((d) =>
    existsSync(join(root, 'plugins', d, 'tsconfig.build.json')),
  );
  const byName = new Map();
  for (const dir of dirs) {
    const json = JSON.parse(readFileSync(join(root, 'plugins', dir, 'package.json'), 'utf8'));
    const deps = Object.keys({ ...json.dependencies, ...json.peerDependencies }).filter((n) =>
      n.startsWith('@peftkit/'),
    );
    byName.set(json.name, { dir: `plugins/${dir}`, deps });
  }
  const out = [];
  const visit = (name) => {
    const entry = byName.get(name);
    if (entry === undefined || out.includes(entry.dir)) return;
    for (const dep of entry.deps) visit(dep);
    out.push(entry.dir);
  };
  for (const name of [...byName.keys()].sort()) visit(name);
  return out;
}

/** Every published package, dependencies first. */
export function buildOrder() {
  return [
    'packages/io',
    'core',
    'packages/models',
    'packages/data',
    'adapters',
    'packages/testing',
    ...pluginOrder(),
    'server',
    'app',
  ];
}

/** Files tsc does not emit but the package loads at run time (e.g. adapters/runtime/worker-bootstrap.mjs). */
function copyAssets(srcDir, outDir, dir = srcDir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'dist' || name === 'node_modules' || name === 'test') continue;
    if (statSync(path).isDirectory()) copyAssets(srcDir, outDir, path);
    else if (name.endsWith('.mjs')) cpSync(path, join(outDir, relative(srcDir, path)));
  }
}

function build(dir) {
  const pkg = join(root, dir);
  const config = JSON.parse(readFileSync(join(pkg, 'tsconfig.build.json'), 'utf8'));
  const rootDir = join(pkg, config.compilerOptions?.rootDir ?? 'src');
  rmSync(join(pkg, 'dist'), { recursive: true, force: true }); // never leave files of deleted sources behind
  const started = Date.now();
  const result = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(pkg, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    console.error(`build: ${dir} failed (tsc exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
  copyAssets(rootDir, join(pkg, 'dist'));
  console.log(`build: ${dir} (${Date.now() - started} ms)`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const only = process.argv.slice(2).map((d) => d.replace(/\/$/, ''));
  const order = buildOrder();
  const unknown = only.filter((d) => !order.includes(d));
  if (unknown.length > 0) {
    console.error(`build: unknown package dir(s) ${unknown.join(', ')}; known: ${order.join(', ')}`);
    process.exit(2);
  }
  for (const dir of order) if (only.length === 0 || only.includes(dir)) build(dir);
}
