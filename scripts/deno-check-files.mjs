// Prints the entry points `deno check` type-checks in CI: every package entry and every test file.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts') || name === 'index.ts') out.push(relative(root, path));
  }
};
for (const dir of ['core', 'packages', 'app', 'adapters', 'plugins', 'server', 'test']) {
  try {
    walk(join(root, dir));
  } catch {}
}
console.log(out.sort().join(' '));
