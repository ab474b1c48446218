/** Node entry: `node --import tsx server/bin/node.ts --model <dir> --adapters <root> [--port N]` (@hono/node-server). */
import { parseServeArgs } from './options.ts';
import { startServer } from './serve.ts';

const running = await startServer(parseServeArgs(process.argv.slice(2), process.env));
console.log(`peftkit server listening on ${running.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void running.close().then(() => process.exit(0));
  });
}
