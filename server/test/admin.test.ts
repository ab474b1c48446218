import { ENGINE_COMPOSITION } from 'peftkit';
import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServing, LocalEngine, type Serving } from '../src/index.ts';
import { call, createFixture, type Fixture } from './fixture.ts';

const KEY = 'test-admin-key';
const admin = { authorization: `Bearer ${KEY}` };

describe('adapter management, validation and safety', () => {
  let fixture: Fixture;
  let engine: LocalEngine;
  let serving: Serving;

  before(async () => {
    fixture = await createFixture({ one: 1, two: 2, three: 3 });
    await fixture.writeLora('big', 4, { r: 16 });
    await mkdir(join(fixture.adapterRoot, 'nested'), { recursive: true });
    await fixture.writeLora('nested/inner', 5);
    // A symlink inside the root pointing outside it must not be followed.
    await symlink(tmpdir(), join(fixture.adapterRoot, 'escape'));
    // Budget: a rank-4 adapter of this model is 73,600 bytes; room for two.
    engine = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
      preload: ['one'],
      adapterBudgetBytes: 2 * 73_600,
    });
    serving = createServing(engine, { adminKey: KEY, bodyLimitBytes: 4096 });
  });
  after(async () => {
    await serving.shutdown();
    await fixture.cleanup();
  });

  it('loads and unloads with vLLM bodies and answers', async () => {
    const load = await call(
      serving.app,
      'POST',
      '/v1/load_lora_adapter',
      { lora_name: 'two', lora_path: 'two' },
      admin,
    );
    assert.equal(load.status, 200, load.text);
    assert.equal(load.text, "Success: LoRA adapter 'two' added successfully.", 'vLLM success text');
    const dup = await call(serving.app, 'POST', '/v1/load_lora_adapter', { lora_name: 'two', lora_path: 'two' }, admin);
    assert.equal(dup.status, 400, 'duplicate without load_inplace');
    assert.equal(dup.json.error.code, 'adapter_exists', 'stable code');
    const inplace = await call(
      serving.app,
      'POST',
      '/v1/load_lora_adapter',
      { lora_name: 'two', lora_path: 'three', load_inplace: true },
      admin,
    );
    assert.equal(inplace.status, 200, inplace.text);
    const unload = await call(serving.app, 'POST', '/v1/unload_lora_adapter', { lora_name: 'two' }, admin);
    assert.equal(unload.text, "Success: LoRA adapter 'two' removed successfully.", 'vLLM unload text');
    const again = await call(serving.app, 'POST', '/v1/unload_lora_adapter', { lora_name: 'two' }, admin);
    assert.equal(again.status, 404, 'unloading twice');
  });

  it('PUT loads or replaces in place, GET lists method, version, parameters and memory, DELETE unloads', async () => {
    const created = await call(serving.app, 'PUT', '/v1/adapters/three', {}, admin);
    assert.equal(created.status, 201, created.text);
    const replaced = await call(serving.app, 'PUT', '/v1/adapters/three', { path: 'two' }, admin);
    assert.equal(replaced.status, 200, replaced.text);
    assert.equal(replaced.json.version > created.json.version, true, 'a new version');
    assert.equal(replaced.json.method, 'lora', 'method');
    assert.equal(typeof replaced.json.pluginVersion, 'string', 'plugin version');
    // stories260K: 5 layers × (q,o: 64→64; k,v: 64→32; up: 64→172; down: 172→64) with r = 4.
    const perLayer = 4 * (64 + 64) * 2 + 4 * (64 + 32) * 2 + 4 * (64 + 172) * 2;
    assert.equal(replaced.json.parameters, 5 * perLayer, 'parameter count');
    assert.equal(replaced.json.bytes, 4 * 5 * perLayer, 'bytes (float32)');
    const list = await call(serving.app, 'GET', '/v1/adapters', undefined, admin);
    assert.ok(
      list.json.data.some((a: { name: string }) => a.name === 'three'),
      'listed',
    );
    const del = await call(serving.app, 'DELETE', '/v1/adapters/three', undefined, admin);
    assert.equal(del.json.deleted, true, 'deleted');
    const gone = await call(serving.app, 'DELETE', '/v1/adapters/three', undefined, admin);
    assert.equal(gone.status, 404, 'deleting twice');
  });

  it('confines names and paths to the adapter root', async () => {
    const cases: [string, unknown, number, string][] = [
      ['/v1/load_lora_adapter', { lora_name: 'x', lora_path: '../x' }, 400, 'adapter_path'],
      ['/v1/load_lora_adapter', { lora_name: 'x', lora_path: '/etc' }, 400, 'adapter_path'],
      ['/v1/load_lora_adapter', { lora_name: 'x', lora_path: '%2e%2e/x' }, 400, 'adapter_path'],
      ['/v1/load_lora_adapter', { lora_name: 'x', lora_path: '..%252fx' }, 400, 'adapter_path'],
      ['/v1/load_lora_adapter', { lora_name: 'x', lora_path: 'escape' }, 400, 'adapter_path'],
      ['/v1/load_lora_adapter', { lora_name: '../x', lora_path: 'one' }, 400, 'adapter_name'],
      ['/v1/load_lora_adapter', { lora_name: 'x', lora_path: 'missing' }, 404, 'adapter_not_found'],
    ];
    for (const [path, body, status, code] of cases) {
      const res = await call(serving.app, 'POST', path, body, admin);
      assert.equal(res.status, status, `${JSON.stringify(body)} → ${res.text}`);
      assert.equal(res.json.error.code, code, `${JSON.stringify(body)} code`);
    }
    const encoded = await call(serving.app, 'PUT', `/v1/adapters/${encodeURIComponent('../x')}`, {}, admin);
    assert.equal(encoded.status, 400, `encoded name in the URL: ${encoded.text}`);
    const nested = await call(
      serving.app,
      'POST',
      '/v1/load_lora_adapter',
      { lora_name: 'inner', lora_path: 'nested/inner' },
      admin,
    );
    assert.equal(nested.status, 200, `a nested directory inside the root is fine: ${nested.text}`);
    await call(serving.app, 'DELETE', '/v1/adapters/inner', undefined, admin);
  });

  it('requires the admin key on admin routes only', async () => {
    const none = await call(serving.app, 'GET', '/v1/adapters');
    assert.equal(none.status, 401, 'no key');
    assert.equal(none.json.error.code, 'invalid_api_key', 'stable code');
    const wrong = await call(
      serving.app,
      'POST',
      '/v1/load_lora_adapter',
      { lora_name: 'two', lora_path: 'two' },
      { authorization: 'Bearer nope' },
    );
    assert.equal(wrong.status, 401, 'wrong key');
    const inference = await call(serving.app, 'POST', '/v1/completions', { prompt: 'Hi', max_tokens: 2 });
    assert.equal(inference.status, 200, 'inference needs no key here');
  });

  it('rejects bad bodies with OpenAI-style errors and keeps serving', async () => {
    const cases: [string, string | object, number, string][] = [
      ['/v1/completions', '{"prompt": ', 400, 'invalid_json'],
      ['/v1/completions', { prompt: 42 }, 400, 'invalid_request'],
      ['/v1/completions', { prompt: 'x', max_tokens: -1 }, 400, 'invalid_request'],
      ['/v1/completions', { prompt: 'x', temperature: 'hot' }, 400, 'invalid_request'],
      ['/v1/completions', { prompt: [1, 99999] }, 400, 'input'],
      ['/v1/completions', { prompt: 'x', max_tokens: 4000 }, 400, 'context_length'],
      ['/v1/chat/completions', { messages: [] }, 400, 'invalid_request'],
      ['/v1/completions', { prompt: 'x'.repeat(5000) }, 413, 'body_too_large'],
      ['/v1/nothing', {}, 404, 'not_found'],
    ];
    for (const [path, body, status, code] of cases) {
      const res = await call(serving.app, 'POST', path, body);
      assert.equal(res.status, status, `${path} ${String(body).slice(0, 40)} → ${res.text.slice(0, 200)}`);
      assert.equal(res.json.error.code, code, `${path} code`);
      assert.equal(typeof res.json.error.message, 'string', 'message');
      assert.equal(typeof res.json.error.type, 'string', 'type');
    }
    const lorax = await call(serving.app, 'POST', '/generate', { inputs: 5 });
    assert.equal(lorax.status, 422, 'LoRAX validation status');
    assert.equal(typeof lorax.json.error, 'string', 'LoRAX error shape');
    const ok = await call(serving.app, 'POST', '/v1/completions', { prompt: 'Still', max_tokens: 2 });
    assert.equal(ok.status, 200, 'still serving');
  });

  it('evicts least-recently-used unpinned adapters past the byte budget, never the pinned preload', async () => {
    // Names never unloaded: an unloaded name stays unknown until loaded again (D9), so no lazy reload for two / three.
    await fixture.writeLora('four', 8);
    await fixture.writeLora('five', 9);
    const gen = (model: string) => call(serving.app, 'POST', '/v1/completions', { model, prompt: 'Hi', max_tokens: 1 });
    await gen('four');
    await gen('five');
    const names = async () => (await engine.listAdapters()).map((a) => a.name).sort();
    assert.deepEqual(await names(), ['five', 'one'], 'four was evicted, one is pinned');
    assert.ok(engine.stats().evictions >= 1, 'eviction counted');
    await gen('four');
    assert.deepEqual(await names(), ['four', 'one'], 'lazy reload, five evicted');
    const big = await gen('big');
    assert.equal(big.status, 400, `an adapter larger than the whole budget is refused (D13): ${big.text}`);
    assert.equal(big.json.error.code, 'adapter_too_large');
    assert.deepEqual(await names(), ['four', 'one'], 'nothing was evicted for it');
  });

  it('drains: refuses new requests with 503 after shutdown starts, health still answers', async () => {
    const other = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
    });
    const s = createServing(other);
    let settled = false;
    const inflight = call(s.app, 'POST', '/v1/completions', { prompt: 'Once', max_tokens: 20, temperature: 0 }).finally(
      () => {
        settled = true;
      },
    );
    // Shut down once the engine holds the request.
    while (other.stats().running === 0 && !settled) await new Promise((resolve) => setTimeout(resolve, 1));
    const closing = s.shutdown();
    const refused = await call(s.app, 'POST', '/v1/completions', { prompt: 'Once', max_tokens: 2 });
    assert.equal(refused.status, 503, 'new request refused while draining');
    assert.equal((await call(s.app, 'GET', '/ready')).status, 503, 'not ready while draining');
    assert.equal((await call(s.app, 'GET', '/health')).status, 200, 'health answers');
    const done = await inflight;
    assert.equal(done.status, 200, `in-flight request finished: ${done.text}`);
    assert.equal(done.json.usage.completion_tokens > 0, true, 'it generated');
    await closing;
  });
});

describe('sequence classification', () => {
  it('classifies with the base head and an adapter', async () => {
    const fixture = await createFixture({ cls: 7 });
    const engine = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
      task: 'seq-cls',
    });
    const serving = createServing(engine);
    try {
      const base = await call(serving.app, 'POST', '/v1/classify', { input: ['a happy dog', 'a sad cat'] });
      assert.equal(base.status, 200, base.text);
      assert.equal(base.json.data.length, 2, 'one result per input');
      for (const row of base.json.data) {
        const sum = row.probs.reduce((a: number, b: number) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, `probabilities sum to 1 (${sum})`);
        assert.equal(row.label, `LABEL_${row.probs.indexOf(Math.max(...row.probs))}`, 'label is the arg-max');
      }
      const adapted = await call(serving.app, 'POST', '/v1/classify', { model: 'cls', input: 'a happy dog' });
      assert.notDeepEqual(adapted.json.data[0].probs, base.json.data[0].probs, 'the adapter changes the probabilities');
      const gen = await call(serving.app, 'POST', '/v1/completions', { prompt: 'x' });
      assert.equal(gen.status, 400, 'no generation on a classifier');
    } finally {
      await serving.shutdown();
      await fixture.cleanup();
    }
  });
});
