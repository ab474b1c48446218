// A user's client, copied by scripts/outside-examples.mjs into the temp project (which installed the `openai` package)
// and run with plain node against `npx peftkit serve --plugin peftkit-plugin-ia3 …`: the openai client completes with
// the (IA)³ adapter `ia3`, the adapter is hot-swapped to the second trained version (PUT /v1/adapters/ia3), and the
// next completion must come from the new version (x-peftkit-adapter-version). Prints `hotswap: ok` or exits 1.
// Usage: PEFTKIT_ADMIN_KEY=… node hotswap.mjs <port>
import OpenAI from 'openai';

const baseURL = `http://127.0.0.1:${process.argv[2]}/v1`;
const admin = { 'content-type': 'application/json', authorization: `Bearer ${process.env.PEFTKIT_ADMIN_KEY}` };
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 }); // the server sets no API key

async function complete() {
  const request = { model: 'ia3', prompt: 'Call me Ishmael.', max_tokens: 8, temperature: 0 };
  const { data, response } = await client.completions.create(request).withResponse();
  return { text: data.choices[0]?.text, version: response.headers.get('x-peftkit-adapter-version') };
}

const checks = {};
const before = await complete();
console.log(`hotswap: before ${before.version} ${JSON.stringify(before.text)}`);
// The admin routes need the key (the server was started with PEFTKIT_ADMIN_KEY set).
const anonymous = await fetch(`${baseURL}/adapters/ia3`, {
  method: 'PUT',
  headers: { 'content-type': 'application/json' },
  body: '{"path":"ia3-v2"}',
});
checks['PUT without the admin key → 401'] = anonymous.status === 401;
const put = await fetch(`${baseURL}/adapters/ia3`, {
  method: 'PUT',
  headers: admin,
  body: JSON.stringify({ path: 'ia3-v2' }),
});
console.log(`hotswap: PUT /v1/adapters/ia3 {"path":"ia3-v2"} → ${put.status} ${(await put.text()).slice(0, 200)}`);
checks['PUT swaps in place (200)'] = put.status === 200;
const after = await complete();
console.log(
  `hotswap: after  ${after.version} ${JSON.stringify(after.text)}${after.text === before.text ? ' (same text)' : ''}`,
);
const listed = await fetch(`${baseURL}/adapters`, { headers: admin }).then((r) => r.json());
const ia3 = listed.data?.find((a) => a.name === 'ia3');
console.log(`hotswap: GET /v1/adapters → ${JSON.stringify(ia3)}`);

checks['completion before the swap from ia3'] =
  /^ia3@v\d+$/.test(before.version ?? '') && typeof before.text === 'string';
checks['completion after the swap from a new version'] =
  /^ia3@v\d+$/.test(after.version ?? '') && after.version !== before.version;
checks['the adapter is the plugin’s (method ia3)'] = ia3?.method === 'ia3' && `ia3@v${ia3.version}` === after.version;
const failed = Object.entries(checks).filter(([, ok]) => !ok);
for (const [name] of failed) console.log(`check failed: ${name}`);
console.log(`hotswap: ${failed.length === 0 ? 'ok' : 'FAILED'}`);
if (failed.length > 0) process.exit(1);
