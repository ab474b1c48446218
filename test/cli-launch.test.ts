// The CLI runs however it is launched: through a symlinked bin (what npm and npx install) in a folder whose path has
// a space, and as `deno run -A …/main.ts` / `bun …/main.ts` from a folder with a space.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, ROOT } from './support/cli-process.ts';

const HELP = /^peftkit — parameter-efficient fine-tuning/;
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);
const nodeExe =
  (globalThis as { Deno?: unknown; Bun?: unknown }).Deno || (globalThis as { Bun?: unknown }).Bun
    ? 'node'
    : process.execPath;

async function withSpacedDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit launch '));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(command: string, args: string[], cwd: string) {
  const r = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

test('the bin runs through a symlink in a folder with a space (as npx installs it)', async () => {
  await withSpacedDir(async (dir) => {
    await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true });
    const link = join(dir, 'node_modules', '.bin', 'peftkit');
    await symlink(BIN, link);
    const r = run(nodeExe, [link, '--help'], dir);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, HELP);
    const v = run(nodeExe, [link, '--version'], dir);
    assert.equal(v.code, 0, v.err);
    assert.match(v.out, /^peftkit \d+\.\d+\.\d+ \(plugin API \d+\.\d+\.\d+\)$/m);
  });
});

test(
  'deno run -A app/src/cli/main.ts --help and bun app/src/cli/main.ts --help from a folder with a ' + 'space',
  async () => {
    await withSpacedDir(async (dir) => {
      // the repository seen through a path with a space, run from another folder with a space
      const repo = join(dir, 'repo with space');
      await symlink(ROOT, repo);
      const main = join(repo, 'app', 'src', 'cli', 'main.ts');
      const deno = run(bin('deno'), ['run', '-A', '--conditions=peftkit:source', main, '--help'], dir);
      assert.equal(deno.code, 0, deno.err);
      assert.match(deno.out, HELP);
      const bun = run(bin('bun'), ['--conditions=peftkit:source', main, '--help'], dir);
      assert.equal(bun.code, 0, bun.err);
      assert.match(bun.out, HELP);
    });
  },
);
