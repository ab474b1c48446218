/**
 * Chaos and abuse suite (loopback only, bounded counts and durations): floods beyond the queue, CSRF attempts,
 * traversal and symlink escapes, corrupt and non-finite adapters, client aborts. Every case asserts its status and
 * that the server still serves afterwards.
 */
import { ENGINE_COMPOSITION } from 'peftkit';
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServing, LocalEngine, type Serving } from '../src/index.ts';
import { poison } from './corrupt.ts';
import { createFixture, type Fixture } from './fixture.ts';
import { type Listening, listen } from './listen.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('chaos and abuse', () => {
  let fixture: Fixture;
  let engine: LocalEngine;
  let serving: Serving;
  let server: Listening;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(new URL(path, server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });
  const stillServing = async () => {
    assert.equal((await fetch(new URL('/health', server.url))).status, 200, 'health');
    const res = await post('/v1/completions', { model: 'good', prompt: 'Once', max_tokens: 2, temperature: 0 });
    assert.equal(res.status, 200, `still serving: ${await res.text()}`);
  };

  before(async () => {
    fixture = await createFixture({ good: 1, nan: 2, truncated: 3, garbage: 4, 'bad-header': 5 });
    const root = fixture.adapterRoot;
    await poison(join(root, 'nan'), Number.NaN);
    const weights = await readFile(join(root, 'truncated', 'adapter_model.safetensors'));
    await writeFile(join(root, 'truncated', 'adapter_model.safetensors'), weights.subarray(0, weights.length - 100));
    await writeFile(join(root, 'garbage', 'adapter_model.safetensors'), 'version https://git-lfs.github.com/spec/v1\n');
    const header = Buffer.from(weights);
    header.write('{{{{', 8);
    await writeFile(join(root, 'bad-header', 'adapter_model.safetensors'), header);
    await mkdir(join(root, 'array-config'));
    await writeFile(join(root, 'array-config', 'adapter_config.json'), '[1, 2, 3]');
    await writeFile(join(root, 'array-config', 'adapter_model.safetensors'), weights);
    await symlink(tmpdir(), join(root, 'escape'));
    engine = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: root,
      plugins: ['@peftkit/lora'],
      maxBatch: 2,
      maxQueue: 2,
      batchWindowMs: 1,
    });
    serving = createServing(engine);
    server = await listen(serving.app);
  });
  after(async () => {
    await server.close();
    await serving.shutdown();
    await fixture.cleanup();
  });

  it('a flood beyond the queue gets 429 + Retry-After, everything else is answered', async () => {
    const answers = await Promise.all(
      Array.from({ length: 24 }, () =>
        post('/v1/completions', { model: 'good', prompt: 'Once upon a time', max_tokens: 24, temperature: 0 }),
      ),
    );
    const statuses = answers.map((r) => r.status);
    const rejected = answers.filter((r) => r.status === 429);
    assert.ok(rejected.length > 0, `some were refused: ${statuses}`);
    assert.ok(
      statuses.every((s) => s === 200 || s === 429),
      `only 200 / 429: ${statuses}`,
    );
    for (const r of rejected) assert.ok(Number(r.headers.get('retry-after')) > 0, 'Retry-After');
    await Promise.all(answers.map((r) => r.text()));
    await stillServing();
  });

  it('CSRF and DNS-rebinding attempts are refused and change nothing', async () => {
    const attempts: [Record<string, string>, unknown, number][] = [
      [{ 'content-type': 'text/plain' }, { lora_name: 'good' }, 415],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 'lora_name=good', 415],
      [{ 'content-type': 'multipart/form-data; boundary=x' }, '--x--', 415],
      [{ origin: 'https://evil.example' }, { lora_name: 'good' }, 403],
      [{ origin: 'null' }, { lora_name: 'good' }, 403],
    ];
    for (const [headers, body, status] of attempts) {
      const res = await post('/v1/unload_lora_adapter', body, headers);
      assert.equal(res.status, status, `${JSON.stringify(headers)}: ${await res.text()}`);
    }
    const rebound = await serving.app.request('/v1/load_lora_adapter', {
      method: 'POST',
      headers: { host: 'rebind.attacker.example', 'content-type': 'application/json' },
      body: JSON.stringify({ lora_name: 'good', lora_path: 'nan', load_inplace: true }),
    });
    assert.equal(rebound.status, 403);
    await stillServing();
  });

  it('traversal and symlink escapes never load anything', async () => {
    const paths = [
      '../x',
      '/etc',
      '%2e%2e/x',
      '..%252f..%252fetc',
      'escape',
      'good/../../x',
      'good\\..\\..\\x',
      'a\u0000b',
      'C:\\Windows',
      `${'x'.repeat(4000)}`,
    ];
    for (const lora_path of paths) {
      const res = await post('/v1/load_lora_adapter', { lora_name: 'victim', lora_path });
      assert.ok(res.status === 400 || res.status === 404, `${lora_path.slice(0, 40)} → ${res.status}`);
    }
    for (const model of ['../good', 'team/nested', '..', 'good/../good']) {
      const res = await post('/v1/completions', { model, prompt: 'x', max_tokens: 1 });
      assert.equal(res.status, 400, `${model} → ${res.status}`);
    }
    assert.ok(!(await engine.listAdapters()).some((a) => a.name === 'victim'));
    await stillServing();
  });

  it('corrupt and non-finite adapters are refused with codes, the old version keeps serving', async () => {
    const put = (path: string) =>
      fetch(new URL('/v1/adapters/target', server.url), {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ path }),
      });
    assert.equal((await put('good')).status, 201);
    for (const path of ['nan', 'truncated', 'garbage', 'bad-header', 'array-config']) {
      const res = await put(path);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(body)}`);
      assert.match(body.error.code, /^(adapter_|safetensors_)/, path);
    }
    const served = await post('/v1/completions', { model: 'target', prompt: 'Once', max_tokens: 2 });
    assert.match(served.headers.get('x-peftkit-adapter-version') ?? '', /^target@v\d+$/);
    await served.text();
    await stillServing();
  });

  it('client aborts free their rows and leave the gauges at rest', async () => {
    const controllers = Array.from({ length: 6 }, () => new AbortController());
    const streams = controllers.map((c) =>
      post('/v1/completions', { model: 'good', prompt: 'Once', max_tokens: 200, stream: true }, {}, c.signal).then(
        async (res) => {
          const reader = (res.body as ReadableStream<Uint8Array>).getReader();
          await reader.read();
          c.abort();
          await reader.read().catch(() => {});
        },
      ),
    );
    await Promise.allSettled(streams);
    for (
      let waited = 0;
      waited < 10_000 && (engine.stats().running > 0 || serving.context.state.inFlight > 0);
      waited += 20
    )
      await sleep(20);
    assert.equal(engine.stats().running, 0, 'no generation left running');
    assert.equal(serving.context.state.inFlight, 0, 'aborted streams left the in-flight gauge');
    await stillServing();
  });
});
