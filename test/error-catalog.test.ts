import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CATALOG, PeftkitError, errorInfo, isPeftkitError, registerErrorCodes } from '@peftkit/core';
import { toHttpError } from '../server/src/http/errors.ts';
import { errorDoc } from '../scripts/error-docs.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_DIRS = ['core', 'packages', 'adapters', 'plugins', 'server', 'app'];
const SKIP = new Set(['node_modules', 'assets', 'test', 'bench']);

/** code → first file that mentions it, over every package's source (tests and benches excluded). */
function codesInSource(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIP.has(entry.name) && !entry.name.startsWith('.')) walk(path);
      } else if (/\.(?:ts|mjs|js)$/.test(entry.name)) {
        // A trailing `_` is a prefix in prose (PEFTKIT_E_IO_*) or a startsWith() check, not a code.
        for (const [code] of readFileSync(path, 'utf8').matchAll(/PEFTKIT_E_[A-Z0-9_]+/g)) {
          if (!code.endsWith('_') && !found.has(code)) found.set(code, relative(ROOT, path));
        }
      }
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(ROOT, dir));
  return found;
}

test('every PEFTKIT_E_ code in the source is in the error catalog', () => {
  const codes = codesInSource();
  assert.ok(codes.size > 100, `the scan found only ${codes.size} codes: is SOURCE_DIRS right?`);
  const missing = [...codes]
    .filter(([code]) => !Object.hasOwn(ERROR_CATALOG, code))
    .map(([code, file]) => `${code} (${file})`);
  assert.deepEqual(missing, [], `codes missing from core/src/error-catalog.ts: ${missing.join(', ')}`);
});

test('every catalog entry has a meaning, an HTTP error status and a non-zero exit code', () => {
  for (const [code, info] of Object.entries(ERROR_CATALOG)) {
    assert.match(code, /^PEFTKIT_E_[A-Z0-9_]+$/, `${code}: malformed code`);
    assert.ok(info.meaning.length > 0 && !info.meaning.includes('\n'), `${code}: meaning must be one non-empty line`);
    assert.ok(info.http >= 400 && info.http <= 599, `${code}: http ${info.http} is not an error status`);
    assert.ok(info.exit === 1 || info.exit === 2, `${code}: exit ${info.exit} (the CLI uses 1, and 2 for usage)`);
  }
  assert.equal(errorInfo('PEFTKIT_E_USAGE').exit, 2, 'usage errors exit 2');
  assert.deepEqual(
    [errorInfo('PEFTKIT_E_NO_SUCH_CODE').http, errorInfo('PEFTKIT_E_NO_SUCH_CODE').exit],
    [500, 1],
    'unknown: 500 / exit 1',
  );
});

test('docs/errors.md carries the catalog table (npm run docs)', async () => {
  const { current, expected } = await errorDoc();
  assert.equal(current, expected, 'docs/errors.md is out of date: run npm run docs');
});

test("the server's HTTP statuses come from the catalog", () => {
  const status = (code: string) => toHttpError(new PeftkitError(code, 'x')).status;
  for (const [code, info] of Object.entries(ERROR_CATALOG))
    assert.equal(status(code), info.http, `${code} through toHttpError`);
  const expected: Record<string, number> = {
    PEFTKIT_E_ADAPTER_UNKNOWN: 404,
    PEFTKIT_E_QUEUE_FULL: 429,
    PEFTKIT_E_TIMEOUT: 408,
    PEFTKIT_E_SHUTTING_DOWN: 503,
    PEFTKIT_E_SAFETENSORS_HEADER_JSON: 400,
    PEFTKIT_E_PLUGIN_UNKNOWN: 400,
    PEFTKIT_E_DATA_CSV: 500,
  };
  for (const [code, http] of Object.entries(expected)) assert.equal(status(code), http, `${code} keeps HTTP ${http}`);
  assert.equal(status('PEFTKIT_E_NOT_IN_CATALOG_ADAPTER'), 500, 'unknown codes are 500 (no name-based guessing)');
  registerErrorCodes({ PEFTKIT_E_CATALOG_TEST_TEAPOT: { meaning: 'a test code', http: 418, exit: 1 } });
  assert.equal(status('PEFTKIT_E_CATALOG_TEST_TEAPOT'), 418, 'a registered third-party code maps to its status');
  assert.equal(
    toHttpError(new PeftkitError('PEFTKIT_E_QUEUE_FULL', 'x')).retryAfterSeconds,
    1,
    '429 carries Retry-After',
  );
});

test('registerErrorCodes adds codes and refuses to redefine one with different values', () => {
  const info = { meaning: 'the widget broke', http: 422, exit: 1 };
  registerErrorCodes({ PEFTKIT_E_CATALOG_TEST_WIDGET: info });
  assert.deepEqual(errorInfo('PEFTKIT_E_CATALOG_TEST_WIDGET'), info, 'registered code is looked up');
  registerErrorCodes({ PEFTKIT_E_CATALOG_TEST_WIDGET: { ...info } });
  const conflict = (error: unknown) => isPeftkitError(error, 'PEFTKIT_E_ERROR_CODE_CONFLICT');
  assert.throws(
    () => registerErrorCodes({ PEFTKIT_E_CATALOG_TEST_WIDGET: { ...info, http: 400 } }),
    conflict,
    'other status',
  );
  assert.throws(
    () => registerErrorCodes({ PEFTKIT_E_USAGE: { ...ERROR_CATALOG.PEFTKIT_E_USAGE, exit: 1 } }),
    conflict,
    'built-in',
  );
  assert.throws(
    () => registerErrorCodes({ PEFTKIT_E_CATALOG_TEST_FRESH: info, PEFTKIT_E_ADAPTER_UNKNOWN: info }),
    conflict,
    'a batch with one conflict',
  );
  assert.equal(errorInfo('PEFTKIT_E_CATALOG_TEST_FRESH').http, 500, 'a refused batch registers nothing');
  const invalid = (error: unknown) => isPeftkitError(error, 'PEFTKIT_E_ERROR_CODE_INVALID');
  assert.throws(() => registerErrorCodes({ 'bad code': info }), invalid, 'malformed code name');
  assert.throws(
    () => registerErrorCodes({ PEFTKIT_E_CATALOG_TEST_OK: { ...info, http: 200 } }),
    invalid,
    'not an error status',
  );
  assert.equal(ERROR_CATALOG.PEFTKIT_E_USAGE.exit, 2, 'the built-in entry is unchanged');
});
