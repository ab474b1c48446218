// kernel.import resolves plugins from the user's project (default: the working directory, or `from`), honours
// ESM-only `exports`, and checks the plugin API range a plugin declares (semver, see CONTRIBUTING.md).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isPeftkitError, PLUGIN_API_VERSION, resolvePluginSpecifier } from '@peftkit/core';
import { pluginSpecifiers } from '../app/src/cli/discover.ts';
import { createKernel } from '../app/src/compose.ts';
import { runCli } from './support/cli-process.ts';
import { createPluginProject, PLUGIN_PACKAGE, type PluginProject } from './support/plugin-project.ts';

const quiet = { warn() {}, info() {} };
let project: PluginProject;
before(async () => {
  project = await createPluginProject();
});
after(() => project.cleanup());

test('a bare name resolves from the project, not from core: ESM-only exports, file URL inside the project', () => {
  const resolved = resolvePluginSpecifier(PLUGIN_PACKAGE, project.dir);
  assert.equal(resolved.found, true);
  assert.equal(resolved.url, pathToFileURL(join(project.dir, 'node_modules', PLUGIN_PACKAGE, 'index.ts')).href);
  assert.equal(
    resolvePluginSpecifier('./x/p.mjs', project.dir).url,
    pathToFileURL(join(project.dir, 'x', 'p.mjs')).href,
  );
  assert.equal(resolvePluginSpecifier('node:path', project.dir).url, 'node:path');
  assert.equal(resolvePluginSpecifier('no-such-plugin', project.dir).found, false);
});

test('kernel.import(name, { from }) loads the plugin package of the project', async () => {
  const kernel = await createKernel({ backend: 'cpu', logger: quiet });
  const plugin = await kernel.import(PLUGIN_PACKAGE, { from: project.dir });
  assert.equal(plugin.meta.name, 'ia3');
  assert.equal(kernel.registry.get('ia3'), plugin);
  const missing = await kernel.import('peftkit-plugin-missing', { from: project.dir }).catch((e: unknown) => e);
  assert.ok(isPeftkitError(missing, 'PEFTKIT_E_PLUGIN_IMPORT'));
  assert.match((missing as Error).message, /not found in node_modules above .*peftkit project /);
  assert.equal((missing as unknown as { details: { reason: string } }).details.reason, 'not-found');
});

test('a plugin declaring ^1.0.0 loads; one declaring ^2.0.0 is refused with PEFTKIT_E_PLUGIN_VERSION', async () => {
  assert.match(PLUGIN_API_VERSION, /^1\./);
  const source = (range: string, name: string) =>
    `import ia3 from '${PLUGIN_PACKAGE}';\n` +
    `export default { ...ia3, meta: { ...ia3.meta, name: '${name}', core: '${range}' } };\n`;
  await writeFile(join(project.dir, 'api1.mjs'), source('^1.0.0', 'ia3-api1'));
  await writeFile(join(project.dir, 'api2.mjs'), source('^2.0.0', 'ia3-api2'));
  const kernel = await createKernel({ backend: 'cpu', logger: quiet });
  assert.equal((await kernel.import('./api1.mjs', { from: project.dir })).meta.name, 'ia3-api1');
  const refused = await kernel.import('./api2.mjs', { from: project.dir }).catch((e: unknown) => e);
  assert.ok(isPeftkitError(refused, 'PEFTKIT_E_PLUGIN_VERSION'), String(refused));
  assert.match(
    (refused as Error).message,
    /plugin 'ia3-api2' expects plugin API '\^2\.0\.0', but this core provides '1\./,
  );
});

test('peftkit plugins loads --plugin names and the project config from the working directory', async () => {
  const byFlag = await runCli(['plugins', '--json', '--plugin', PLUGIN_PACKAGE], { cwd: project.dir });
  assert.equal(byFlag.code, 0, byFlag.stderr);
  assert.ok(JSON.parse(byFlag.stdout).plugins.some((p: { name: string }) => p.name === 'ia3'));
  await writeFile(
    join(project.dir, 'peftkit.config.json'),
    JSON.stringify({ plugins: ['./api1.mjs'], backend: 'cpu' }),
  );
  try {
    const byConfig = await runCli(['plugins', '--json'], { cwd: project.dir });
    assert.equal(byConfig.code, 0, byConfig.stderr);
    assert.ok(JSON.parse(byConfig.stdout).plugins.some((p: { name: string }) => p.name === 'ia3-api1'));
  } finally {
    await writeFile(join(project.dir, 'peftkit.config.json'), '{}');
  }
});

test('serve posts plugin paths made absolute against the working directory; names stay names', () => {
  const specs = pluginSpecifiers(['./vendor/ia3/index.ts', PLUGIN_PACKAGE], { cwd: project.dir, absolute: true });
  assert.deepEqual(specs.slice(-2), [join(project.dir, 'vendor', 'ia3', 'index.ts'), PLUGIN_PACKAGE]);
});
