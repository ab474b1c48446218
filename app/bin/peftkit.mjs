#!/usr/bin/env node
// Node entry of the `peftkit` CLI, however it is launched (npx, a global install, a symlinked bin, a path with
// spaces): it calls main() itself instead of letting main.ts guess from process.argv. The sources are TypeScript, so
// tsx's loader is registered first. Deno and Bun run app/src/cli/main.ts directly (`deno run -A …`, `bun …`).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
