import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MODEL_DIR } from '../app/src/cli/cmd-start.ts';
import { main } from '../app/src/cli/main.ts';
import { confinedAdapterDir } from '../server/src/engine/paths.ts';
import { toHttpError } from '../server/src/http/errors.ts';

// `serve --adapters <missing dir>` used to start and then answer every adapter request with HTTP 500 carrying an
// absolute server path: it is refused at start-up now, and a missing root reads as an unknown adapter (404).

test('serve refuses a missing --adapters directory at start with one coded line', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-serve-root-'));
  try {
    const missing = join(dir, 'no-such-adapters');
    let err = '';
    const code = await main(['serve', '--model', DEFAULT_MODEL_DIR, '--adapters', missing, '--port', '0'], {
      out() {},
      err: (t) => {
        err += `${t}\n`;
      },
    });
    assert.equal(code, 2, `usage error exit code: ${err}`);
    const line = err.split('\n').find((l) => l.includes('--adapters')) ?? '';
    assert.match(
      line,
      /PEFTKIT_E_USAGE: .*--adapters '.*no-such-adapters' is not a directory/,
      `one coded line: ${err}`,
    );
    const noModel = await main(['serve', '--model', join(dir, 'no-model'), '--adapters', dir, '--port', '0'], {
      out() {},
      err() {},
    });
    assert.equal(noModel, 1, 'a missing model directory is refused too');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an adapter request against a missing adapter root is a 404 without server paths', async () => {
  const root = join(tmpdir(), 'peftkit-definitely-missing-root', 'adapters');
  const error = await confinedAdapterDir(root, 'spam-filter').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error !== undefined, 'refused');
  const http = toHttpError(error);
  assert.equal(http.status, 404, `404, not 500: ${JSON.stringify(http)}`);
  assert.ok(
    !http.message.includes(root) && !http.message.includes(tmpdir()),
    `no server path in the body: ${http.message}`,
  );
});
