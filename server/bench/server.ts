/**
 * Server throughput: requests/s and p50/p99 latency for 1, 8 and 32 LoRA adapters, with mixed batching on and off,
 * plus adapter load and hot-swap latency. In-process engine driven through Hono's in-memory fetch (no sockets), on
 * the real stories260K model. Numbers go to stdout and, with --out, to a JSON file.
 *
 * Usage: node --import tsx server/bench/server.ts [--requests 64] [--tokens 16] [--adapters 1,8,32] [--out file.json]
 */
import { ENGINE_COMPOSITION } from 'peftkit';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createServing, LocalEngine } from '../src/index.ts';
import { createFixture } from '../test/fixture.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string' },
    tokens: { type: 'string' },
    adapters: { type: 'string' },
    out: { type: 'string' },
  },
});
const REQUESTS = Number(values.requests ?? 64);
const TOKENS = Number(values.tokens ?? 16);
const COUNTS = (values.adapters ?? '1,8,32').split(',').map(Number);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
const names = (n: number) => Array.from({ length: n }, (_, i) => `a${i}`);

const fixture = await createFixture();
const max = Math.max(...COUNTS);
for (const name of names(max)) await fixture.writeLora(name, 1000 + Number(name.slice(1)));
const rows: Record<string, unknown>[] = [];

for (const mixed of [true, false]) {
  const engine = await LocalEngine.create({
    composition: ENGINE_COMPOSITION,
    modelDir: fixture.modelDir,
    adapterRoot: fixture.adapterRoot,
    plugins: ['@peftkit/lora'],
    mixedBatching: mixed,
    maxBatch: 32,
  });
  const { app, shutdown } = createServing(engine);
  for (const count of COUNTS) {
    const adapters = names(count);
    for (const a of adapters) await engine.loadAdapter(a, { replace: true });
    const one = async (i: number) => {
      const started = performance.now();
      const res = await app.request('/v1/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: adapters[i % count],
          prompt: 'Once upon a time',
          max_tokens: TOKENS,
          temperature: 0,
        }),
      });
      await res.text();
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      return performance.now() - started;
    };
    await Promise.all(Array.from({ length: 4 }, (_, i) => one(i))); // warm-up
    const started = performance.now();
    const latencies = (await Promise.all(Array.from({ length: REQUESTS }, (_, i) => one(i)))).sort((a, b) => a - b);
    const seconds = (performance.now() - started) / 1000;
    const row = {
      adapters: count,
      mixedBatching: mixed,
      requests: REQUESTS,
      tokensPerRequest: TOKENS,
      requestsPerSecond: +(REQUESTS / seconds).toFixed(2),
      tokensPerSecond: +((REQUESTS * TOKENS) / seconds).toFixed(1),
      p50ms: +percentile(latencies, 50).toFixed(1),
      p99ms: +percentile(latencies, 99).toFixed(1),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  if (mixed) {
    const load: number[] = [];
    const swap: number[] = [];
    for (let i = 0; i < 10; i++) {
      await engine.unloadAdapter('a0').catch(() => {});
      let t = performance.now();
      await engine.loadAdapter('a0');
      load.push(performance.now() - t);
      t = performance.now();
      await engine.loadAdapter('a0', { path: 'a1', replace: true });
      swap.push(performance.now() - t);
    }
    load.sort((a, b) => a - b);
    swap.sort((a, b) => a - b);
    const row = {
      adapterLoadP50ms: +percentile(load, 50).toFixed(2),
      adapterSwapP50ms: +percentile(swap, 50).toFixed(2),
      adapterRank: 4,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  await shutdown();
}
await fixture.cleanup();
if (values.out)
  await writeFile(
    values.out,
    `${JSON.stringify({ date: new Date().toISOString(), runtime: `node ${process.version}`, rows }, null, 2)}\n`,
  );
