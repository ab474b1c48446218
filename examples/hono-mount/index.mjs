// peftkit's server mounted inside an existing Hono app: the host app keeps its own routes, the OpenAI-compatible ones
// live under /peft. The engine runs in this thread (LocalEngine) on the embedded default model; `peftkit serve` would
// put it in a worker instead. Plain `node index.mjs`; prints `hono-mount: ok` or exits 1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { createServing, LocalEngine } from '@peftkit/server';
import { Hono } from 'hono';
import { createEngineKernel, DEFAULT_MODEL_DIR } from 'peftkit';

const adapterRoot = mkdtempSync(join(tmpdir(), 'peftkit-adapters-')); // adapters go in sub-directories here
// createEngineKernel: the platform adapters and the installed method plugins, composed by the `peftkit` package.
const engine = await LocalEngine.create({ modelDir: DEFAULT_MODEL_DIR, adapterRoot }, createEngineKernel);
// An admin key guards adapter management, under the mount prefix too.
const serving = createServing(engine, { adminKey: 'example-admin-key' });

const app = new Hono();
app.get('/hello', (c) => c.json({ hello: 'from the host app' }));
app.route('/peft', serving.app);

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
await new Promise((resolve) => server.once('listening', resolve));
// An IP-literal Host passes the server's DNS-rebinding guard; names need ServerOptions.allowedHosts.
const base = `http://127.0.0.1:${server.address().port}`;
const checks = {};
try {
  const hello = await fetch(`${base}/hello`).then((r) => r.json());
  checks['host route GET /hello'] = hello.hello === 'from the host app';
  const response = await fetch(`${base}/peft/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' }, // the server takes JSON bodies only (CSRF guard)
    body: JSON.stringify({ model: 'peftkit-moby', prompt: 'Call me Ishmael.', max_tokens: 8, temperature: 0 }),
  });
  const completion = await response.json();
  const text = completion.choices?.[0]?.text;
  console.log(`POST /peft/v1/completions → ${response.status} ${JSON.stringify(text ?? completion)}`);
  checks['mounted POST /peft/v1/completions'] = response.status === 200 && typeof text === 'string' && text.length > 0;
  checks['adapter version header'] = response.headers.get('x-peftkit-adapter-version') === 'base';
  const plain = await fetch(`${base}/peft/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: '{}',
  });
  checks['non-JSON body refused (415)'] = plain.status === 415;
  checks['admin route needs the admin key (401)'] = (await fetch(`${base}/peft/v1/adapters`)).status === 401;
  const admin = await fetch(`${base}/peft/v1/adapters`, { headers: { authorization: 'Bearer example-admin-key' } });
  checks['admin route with the key (200)'] = admin.status === 200;
} finally {
  await new Promise((resolve) => server.close(resolve));
  await serving.shutdown();
  rmSync(adapterRoot, { recursive: true, force: true });
}
const failed = Object.entries(checks).filter(([, ok]) => !ok);
for (const [name] of failed) console.log(`check failed: ${name}`);
console.log(`hono-mount: ${failed.length === 0 ? 'ok' : 'FAILED'} (${Object.keys(checks).length} checks)`);
if (failed.length > 0) process.exit(1);
