/**
 * A user's project outside this repository (in a temp folder whose path has a space) with a third-party plugin in
 * its own node_modules: the (IA)³ fixture as an ESM-only package (its `exports` offer only the `import` condition,
 * which createRequire().resolve cannot resolve), linked like `npm link` / a workspace does, and @peftkit/core linked
 * to this repository's. Deno refuses TypeScript under node_modules, hence the package's real folder is vendor/.
 */
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './cli-process.ts';

export const PLUGIN_PACKAGE = 'peftkit-plugin-ia3-fixture';

export interface PluginProject {
  dir: string;
  cleanup(): Promise<void>;
}

export async function createPluginProject(): Promise<PluginProject> {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit project '));
  const vendor = join(dir, 'vendor', 'ia3');
  await mkdir(vendor, { recursive: true });
  await copyFile(join(ROOT, 'test', 'fixtures', 'ia3-plugin', 'index.ts'), join(vendor, 'index.ts'));
  const pkg = { name: PLUGIN_PACKAGE, version: '0.1.0', type: 'module', exports: { '.': { import: './index.ts' } } };
  await writeFile(join(vendor, 'package.json'), JSON.stringify(pkg, null, 2));
  await mkdir(join(dir, 'node_modules', '@peftkit'), { recursive: true });
  await symlink(join('..', 'vendor', 'ia3'), join(dir, 'node_modules', PLUGIN_PACKAGE), 'dir');
  await symlink(join(ROOT, 'core'), join(dir, 'node_modules', '@peftkit', 'core'), 'dir');
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'my-project', private: true, type: 'module' }, null, 2),
  );
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
