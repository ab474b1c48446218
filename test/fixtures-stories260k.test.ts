import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixturePath, STORIES260K_DIGESTS } from './support/shared.ts';

// The vendored stories260K must be byte-identical to upstream: a truncated copy or a Git LFS pointer would otherwise
// surface as odd logits far from the cause.
for (const [rel, expected] of Object.entries(STORIES260K_DIGESTS)) {
  test(`fixture ${rel}: upstream size and sha256`, () => {
    const bytes = readFileSync(fixturePath(rel));
    assert.equal(bytes.length, expected.bytes, `${rel} size`);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), expected.sha256, `${rel} sha256`);
  });
}

test('fixture stories260K ships its MIT licence and provenance', () => {
  assert.match(readFileSync(fixturePath('stories260K/LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) 2023 Andrej/);
  const readme = readFileSync(fixturePath('stories260K/README.md'), 'utf8');
  for (const digest of Object.values(STORIES260K_DIGESTS))
    assert.ok(readme.includes(digest.sha256), `README lists ${digest.sha256}`);
});

// A fresh clone has no ../shared beside it: tests and benches must take their data from test/fixtures/ instead.
test('no test or bench reads the workplace folder beside the repository', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const self = fileURLToPath(import.meta.url);
  const outside = new RegExp(
    ['\\.\\./\\.\\./', 'shared/', '|', '\\.\\./\\.\\./\\.\\./', 'shared/', '|require', 'Shared\\('].join(''),
  );
  const offenders: string[] = [];
  const scan = (dir: string, inTests: boolean): void => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name.startsWith('.') || name === 'fixtures') continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) scan(path, inTests || name === 'test' || name === 'bench');
      else if (inTests && /\.(ts|mjs)$/.test(name) && path !== self && outside.test(readFileSync(path, 'utf8')))
        offenders.push(relative(root, path));
    }
  };
  for (const top of ['test', 'bench', 'server', 'plugins', 'packages', 'core', 'app', 'adapters'])
    scan(join(root, top), top === 'test' || top === 'bench');
  assert.deepEqual(offenders, []);
});
