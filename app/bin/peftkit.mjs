#!/usr/bin/env node
// Node entry of the `peftkit` CLI: the sources are TypeScript, so register tsx's loader first.
// Deno and Bun run app/src/cli/main.ts directly (`deno run -A …`, `bun …`).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
