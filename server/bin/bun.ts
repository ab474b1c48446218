/** Bun entry: `bun server/bin/bun.ts --model <dir> --adapters <root> [--port N]` (Bun.serve). */
import { parseServeArgs } from './options.ts';
import { startServer } from './serve.ts';

// Typed through globalThis so `deno check` (no Bun types) can check this file too.
const { argv } = (globalThis as unknown as { Bun: { argv: string[] } }).Bun;
const running = await startServer(parseServeArgs(argv.slice(2), process.env));
console.log(`peftkit server listening on ${running.url}`);
const stop = () => void running.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
