/** Deno entry: `deno run -A server/bin/deno.ts --model <dir> --adapters <root> [--port N]` (Deno.serve). */
import { parseServeArgs } from './options.ts';
import { startServer } from './serve.ts';

const running = await startServer(parseServeArgs(Deno.args, Deno.env.toObject()));
console.log(`peftkit server listening on ${running.url}`);
const stop = () => void running.close().then(() => Deno.exit(0));
Deno.addSignalListener('SIGINT', stop);
Deno.addSignalListener('SIGTERM', stop);
