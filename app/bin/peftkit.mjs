#!/usr/bin/env node
// Node entry of the `peftkit` CLI, however it is launched (npx, a global install, a symlinked bin, a path with
// spaces): it calls main() itself instead of letting main.ts guess from process.argv.
// Installed from npm it runs the compiled dist/ with plain node (no loader). In a source checkout (tsconfig.build.json
// is never packed) it runs the TypeScript sources through tsx with the `peftkit:source` export condition, so the
// workspace packages resolve to their src/ as well and a stale or missing dist/ never matters there.
// Deno and Bun run app/src/cli/main.ts directly (`deno run -A …`, `bun …`).
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const checkout = existsSync(new URL('../tsconfig.build.json', import.meta.url));
if (checkout) {
  const flag = '--conditions=peftkit:source';
  // Child node processes (bench scripts, …) inherit it; worker threads get it from worker-bootstrap.mjs.
  const options = process.env.NODE_OPTIONS ?? '';
  if (!options.includes(flag)) process.env.NODE_OPTIONS = `${options} ${flag}`.trim();
  const hook =
    'export function resolve(s, c, next) { ' +
    'return next(s, { ...c, conditions: ["peftkit:source", ...c.conditions] }); }';
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  const tsx = await import('tsx/esm/api');
  tsx.register();
}
// cli() is main() plus handlers that turn errors escaping every command into one coded line.
const { cli } = await import(checkout ? '../src/cli/main.ts' : '../dist/cli/main.js');
process.exitCode = await cli(process.argv.slice(2));
