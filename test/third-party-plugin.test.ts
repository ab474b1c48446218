import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { isPeftkitError } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { conformanceSuite } from '@peftkit/testing';

// The fixture is a separate workspace package that imports only @peftkit/core's public exports.
const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const plugin = await kernel.import('peftkit-plugin-ia3-fixture');

test('kernel.import loads a third-party plugin package and validates its default export', () => {
  assert.equal(plugin.meta.name, 'ia3');
  assert.equal(kernel.registry.get('ia3'), plugin);
});

test('kernel.import also accepts a file path', async () => {
  const other = await createKernel({ logger: { warn() {}, info() {} } });
  const path = fileURLToPath(new URL('./fixtures/ia3-plugin/index.ts', import.meta.url));
  const loaded = await other.import(path);
  assert.equal(loaded.meta.name, 'ia3');
});

test('kernel.import fails with coded errors for missing modules and modules without a plugin', async () => {
  const other = await createKernel({ logger: { warn() {}, info() {} } });
  await assert.rejects(other.import('./test/fixtures/does-not-exist.ts'), (e) =>
    isPeftkitError(e, 'PEFTKIT_E_PLUGIN_IMPORT'),
  );
  await assert.rejects(other.import('node:path'), (e) => isPeftkitError(e, 'PEFTKIT_E_PLUGIN_INVALID'));
});

conformanceSuite({
  plugin,
  config: { target_modules: ['k_proj', 'v_proj', 'down_proj'], feedforward_modules: ['down_proj'] },
  secondConfig: { target_modules: ['q_proj', 'up_proj'], feedforward_modules: ['up_proj'] },
});
