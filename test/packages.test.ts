// What `npm pack` puts in each published package: dist (js, d.ts, maps), the sources (for the maps, Deno and Bun),
// README, CHANGELOG, LICENSE, package.json — the app also its bin and the embedded model — and never tests, fixtures,
// tsconfig.build files or benchmarks. The dist part needs `npm run build` first: skipped with a message here when dist/
// is absent, a failure under CI (.ci/run builds before the tests). Also guards that the tests run against src/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const posix = (path: string) => path.split('\\').join('/');

interface PackageJson {
  name: string;
  private?: boolean;
  exports: Record<string, string | Record<string, string>>;
  bin?: Record<string, string>;
}

/** Published workspace packages: those with a tsconfig.build.json (npm run build compiles exactly these). */
const workspaces = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }
).workspaces.flatMap((pattern) =>
  pattern.endsWith('/*')
    ? readdirSync(join(ROOT, pattern.slice(0, -2))).map((d) => `${pattern.slice(0, -2)}/${d}`)
    : [pattern],
);
const packages = workspaces
  .filter((dir) => existsSync(join(ROOT, dir, 'tsconfig.build.json')))
  .map((dir) => ({ dir, json: JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as PackageJson }));

/** Source files of a package as the repository has them (tests and build output left out). */
function sources(dir: string, sub = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir, sub))) {
    const rel = sub ? `${sub}/${name}` : name;
    if (['dist', 'test', 'node_modules', 'bench', 'bin', 'assets'].includes(name) && sub === '') continue;
    if (statSync(join(ROOT, dir, rel)).isDirectory()) out.push(...sources(dir, rel));
    else if (/\.(ts|mjs)$/.test(name) && !name.endsWith('.test.ts')) out.push(rel);
  }
  return out;
}

// One npm call for all packages (each call costs ~1 s of npm start-up).
const dry = spawnSync(
  'npm',
  ['pack', '--dry-run', '--json', '--ignore-scripts', ...packages.flatMap((p) => ['-w', p.dir])],
  {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  },
);
const packed = new Map<string, Set<string>>();
if (dry.status === 0) {
  for (const entry of JSON.parse(dry.stdout.slice(dry.stdout.indexOf('['))) as {
    name: string;
    files: { path: string }[];
  }[]) {
    packed.set(entry.name, new Set(entry.files.map((f) => posix(f.path))));
  }
}
test('in-repository runs resolve the workspace packages to their sources (peftkit:source), never dist/', () => {
  assert.match(import.meta.resolve('@peftkit/core'), /\/core\/src\/index\.ts$/);
  assert.match(
    import.meta.resolve('peftkit'),
    /\/app\/src\/index\.ts$/,
    'run tests with the peftkit:source condition (npm test does)',
  );
});

test('npm pack --dry-run lists every published package', () => {
  assert.equal(dry.status, 0, dry.stderr);
  assert.deepEqual([...packed.keys()].sort(), packages.map((p) => p.json.name).sort());
});

test('tarballs hold sources, docs and licence, and no tests, fixtures, tsconfig or benchmarks', () => {
  const allowed = new RegExp(
    `^(${[
      'package\\.json',
      'README\\.md',
      'CHANGELOG\\.md',
      'LICENSE',
      'dist/.+\\.(js|mjs|d\\.ts|js\\.map|d\\.ts\\.map)',
      'bin/[^/]+\\.mjs',
      'assets/peftkit-moby/[^/]+',
      '([\\w-]+/)*[\\w.-]+\\.(ts|mjs)',
    ].join('|')})$`,
  );
  const forbidden = /(^|\/)(test|tests|fixtures|bench)\/|\.test\.ts$|tsconfig|\.tsbuildinfo$/;
  for (const { dir, json } of packages) {
    const files = packed.get(json.name) ?? new Set<string>();
    const odd = [...files].filter((f) => !allowed.test(f) || forbidden.test(f));
    assert.deepEqual(odd, [], `${json.name}: unexpected files in the tarball`);
    for (const required of [
      'package.json',
      'CHANGELOG.md',
      'LICENSE',
      ...(existsSync(join(ROOT, dir, 'README.md')) ? ['README.md'] : []),
    ]) {
      assert.ok(files.has(required), `${json.name}: ${required} missing`);
    }
    const missing = sources(dir).filter((f) => !files.has(f));
    assert.deepEqual(missing, [], `${json.name}: sources missing from the tarball (files field?)`);
    for (const target of Object.values(json.exports)) {
      const source = typeof target === 'string' ? target : target['peftkit:source'];
      assert.ok(source !== undefined && files.has(source.slice(2)), `${json.name}: export source ${source} not packed`);
    }
  }
  const app = packed.get('peftkit') ?? new Set<string>();
  for (const f of [
    'bin/peftkit.mjs',
    'assets/peftkit-moby/config.json',
    'assets/peftkit-moby/model.safetensors',
    'assets/peftkit-moby/tokenizer.json',
  ]) {
    assert.ok(app.has(f), `peftkit: ${f} missing`);
  }
});

test('tarballs hold the build: js, d.ts and both maps for every source module, and every export target', (t) => {
  // Two kinds of trouble: a built file on disk that the tarball leaves out is a packaging bug (always a failure);
  // a build that is missing or older than the sources (a file added since) only needs `npm run build` — skipped with
  // a message on a developer's machine, a failure under CI, which builds first.
  const notPacked: string[] = [];
  const stale: string[] = [];
  for (const { dir, json } of packages) {
    const files = packed.get(json.name) ?? new Set<string>();
    const onDisk = (f: string) => existsSync(join(ROOT, dir, f));
    const expect = (f: string, what: string) => {
      if (files.has(f)) return;
      (onDisk(f) ? notPacked : stale).push(`${json.name}: ${what}${what.endsWith(f) ? '' : ` ${f}`}`);
    };
    const rootDir = dir === 'adapters' ? '' : 'src/';
    for (const source of sources(dir)) {
      const out = `dist/${source.slice(rootDir.length)}`;
      const expected = source.endsWith('.mjs')
        ? [out]
        : ['.js', '.d.ts', '.js.map', '.d.ts.map'].map((ext) => out.replace(/\.ts$/, ext));
      for (const f of expected) expect(f, f);
    }
    for (const f of files) {
      const source = join(ROOT, dir, rootDir, f.slice(5).replace(/(\.d)?\.(js|ts)(\.map)?$/, '.ts'));
      if (f.startsWith('dist/') && !f.endsWith('.mjs') && !existsSync(source))
        stale.push(`${json.name}: ${f} has no source`);
    }
    for (const [key, target] of Object.entries(json.exports)) {
      assert.equal(typeof target, 'object', `${json.name} ${key}: conditional export expected`);
      const { types, import: js } = target as Record<string, string>;
      assert.ok(types !== undefined && js !== undefined, `${json.name} ${key}: types and import conditions expected`);
      expect(types.slice(2), `export ${key} types`);
      expect(js.slice(2), `export ${key} import`);
    }
    for (const bin of Object.values(json.bin ?? {})) expect(bin.replace(/^\.\//, ''), 'bin');
  }
  assert.deepEqual(notPacked, [], 'built files on disk that npm pack leaves out (files field?)');
  if (stale.length > 0) {
    const message =
      `dist/ absent or older than the sources (${stale.length} files, e.g. ` +
      `${stale.slice(0, 3).join('; ')}): run 'npm run build'`;
    assert.ok(process.env.CI !== 'true', `${message} (CI builds before the tests)`);
    console.log(`SKIP ${message}`);
    t.skip(message);
  }
});
