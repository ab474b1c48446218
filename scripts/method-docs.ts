// `npm run docs`: writes each first-party method plugin's config table (generated from its zod schema) into its
// README between the config-table markers. test/method-docs.test.ts fails when a README is out of date.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { configTable, withConfigTable } from '@peftkit/core';

export const METHOD_PACKAGES = [
  'lora',
  'qlora',
  'bottleneck',
  'prompt-tuning',
  'p-tuning',
  'prefix-tuning',
  'p-tuning-v2',
  'full',
];

export async function methodReadme(name: string): Promise<{ path: string; current: string; expected: string }> {
  const path = fileURLToPath(new URL(`../plugins/${name}/README.md`, import.meta.url));
  const mod = (await import(`@peftkit/${name}`)) as { default: { configSchema: unknown } };
  const current = await readFile(path, 'utf8');
  return { path, current, expected: withConfigTable(current, configTable(mod.default.configSchema)) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const name of METHOD_PACKAGES) {
    const { path, current, expected } = await methodReadme(name);
    if (current !== expected) {
      await writeFile(path, expected);
      console.log(`updated ${path}`);
    } else console.log(`up to date: ${path}`);
  }
}
