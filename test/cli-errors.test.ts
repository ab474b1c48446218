// CLI failures print one coded line `peftkit <cmd>: PEFTKIT_E_X: message` with the catalog's exit code — never a
// runtime dump. Before: an error escaping a command after the wasm backend loaded printed ~38 KB of tfjs-backend-wasm's
// minified source (emscripten's process handlers rethrew it) and exited 7; a busy port printed a raw EADDRINUSE stack.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, runCli, spawnCli } from './support/cli-process.ts';

const MODEL = join(ROOT, 'app', 'assets', 'peftkit-moby');
const IA3 = pathToFileURL(join(ROOT, 'test', 'fixtures', 'ia3-plugin', 'index.ts')).href;

/** stderr lines other than the serve command's admin-key notice. */
const errorLines = (stderr: string) =>
  stderr.split('\n').filter((l) => l.trim() !== '' && !l.includes('PEFTKIT_ADMIN_KEY is not set'));

function assertOneCodedLine(stderr: string, command: string, code: string): void {
  const lines = errorLines(stderr);
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr.slice(0, 2000)}`);
  assert.match(lines[0] as string, new RegExp(`^peftkit ${command}: ${code}: `));
  assert.ok(stderr.length < 1000, `no dump (${stderr.length} bytes)`);
  assert.doesNotMatch(stderr, /var Module|WasmBackendModule|^\s+at /m);
}

async function withTemp(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-errors-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a missing model is one coded line, exit 1; --verbose adds the stack', async () => {
  const r = await runCli(['generate', '--model', '/nonexistent/model', '--prompt', 'hi', '--backend', 'cpu']);
  assert.equal(r.code, 1, r.stderr);
  assertOneCodedLine(r.stderr, 'generate', 'PEFTKIT_E_MODEL_[A-Z_]+');
  const verbose = await runCli(['--verbose', 'generate', '--model', '/nonexistent/model', '--backend', 'cpu']);
  assert.equal(verbose.code, 1);
  assert.match(verbose.stderr, /^peftkit generate: PEFTKIT_E_MODEL_[A-Z_]+: .*\n[\s\S]*\n\s+at /);
  const env = await runCli(['generate', '--model', '/nonexistent/model', '--backend', 'cpu'], {
    env: { PEFTKIT_VERBOSE: '1' },
  });
  assert.match(env.stderr, /\n\s+at /, 'PEFTKIT_VERBOSE=1 too');
});

test('an error escaping every command after the wasm backend loaded: one coded line, not the wasm bundle', async () => {
  await withTemp(async (dir) => {
    const plugin = join(dir, 'late.mjs');
    await writeFile(
      plugin,
      `setTimeout(() => { throw new Error('late failure'); }, 50);\nexport { default } from '${IA3}';\n`,
    );
    const r = await runCli(['plugins', '--backend', 'wasm', '--plugin', plugin]);
    assert.equal(r.code, 1, r.stderr.slice(0, 2000));
    assertOneCodedLine(r.stderr, 'plugins', 'PEFTKIT_E_UNEXPECTED');
    assert.match(r.stderr, /late failure/);
  });
});

test('serve on a busy port: PEFTKIT_E_PORT_IN_USE, one line, exit 1', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    await withTemp(async (adapters) => {
      const r = await runCli(['serve', '--model', MODEL, '--adapters', adapters, '--port', String(port)]);
      assert.equal(r.code, 1, r.stderr);
      assertOneCodedLine(r.stderr, 'serve', 'PEFTKIT_E_PORT_IN_USE');
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
    });
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test('unknown commands and a bad project config are usage errors (exit 2) naming what is wrong', async () => {
  const unknown = await runCli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^peftkit: PEFTKIT_E_USAGE: unknown command 'frobnicate'/);
  await withTemp(async (dir) => {
    await writeFile(join(dir, 'peftkit.config.json'), JSON.stringify({ plugins: 'not-a-list' }));
    const r = await runCli(['plugins', '--backend', 'cpu'], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assertOneCodedLine(r.stderr, 'plugins', 'PEFTKIT_E_PROJECT_CONFIG');
    assert.match(r.stderr, /peftkit\.config\.json: plugins: /);
  });
});

test(
  'a reader that closes the pipe early (peftkit doctor | head -1) ends the CLI quietly, ' + 'not with a coded error',
  async () => {
    const child = spawnCli(['doctor']);
    let stderr = '';
    child.stderr?.on('data', (d: Uint8Array) => {
      stderr += String(d);
    });
    // Close our end after the first chunk, as `head -1` does.
    child.stdout?.once('data', () => child.stdout?.destroy());
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    assert.doesNotMatch(
      stderr,
      /PEFTKIT_E_UNEXPECTED|EPIPE|BrokenPipe/,
      `no error for a closed pipe; stderr: ${stderr}`,
    );
    assert.equal(code, 0, `exit 0 after a closed pipe (stderr: ${stderr})`);
  },
);
