/**
 * Regression tests of the adapter-file side of the hardening issue: D6
 * (non-finite), D10 (file symlinks), D13 (budget), D14.
 */
import { ENGINE_COMPOSITION } from 'peftkit';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServing, LocalEngine, type Serving } from '../src/index.ts';
import { poison, sparseAdapter } from './corrupt.ts';
import { call, createFixture, type Fixture } from './fixture.ts';

const BUDGET = 100_000; // one rank-4 LoRA of stories260K (73,600 bytes) fits, two do not

describe('server hardening: adapter files', () => {
  let fixture: Fixture;
  let outside: string;
  let engine: LocalEngine;
  let serving: Serving;
  const methods: [string, string, Record<string, unknown>][] = [
    ['prefix-tuning', 'prefix-tuning', { num_virtual_tokens: 4 }],
    ['bottleneck', 'bottleneck', {}],
  ];
  const available = ['lora'];
  const put = (name: string, path: string) => call(serving.app, 'PUT', `/v1/adapters/${name}`, { path });
  const ask = (model: string) =>
    call(serving.app, 'POST', '/v1/completions', { model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });

  before(async () => {
    fixture = await createFixture({ a: 1, b: 2, 'lora-good': 3, 'lora-nan': 3, 'lora-inf': 3 });
    outside = await mkdtemp(join(tmpdir(), 'peftkit-outside-'));
    for (const [name, method, config] of methods) {
      try {
        for (const suffix of ['good', 'nan', 'inf']) await fixture.writeAdapter(`${name}-${suffix}`, method, config, 7);
        available.push(name);
      } catch (error) {
        console.warn(`adapter-files.test: ${method} unavailable (${(error as Error).message.split('\n')[0]})`);
      }
    }
    for (const name of available) {
      await poison(join(fixture.adapterRoot, `${name}-nan`), Number.NaN);
      await poison(join(fixture.adapterRoot, `${name}-inf`), Number.POSITIVE_INFINITY);
    }
    await fixture.writeLora('big', 4, { r: 16 });
    engine = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      adapterBudgetBytes: BUDGET,
      maxAdapterFileBytes: 10 * 2 ** 20,
    });
    serving = createServing(engine);
  });
  after(async () => {
    await serving.shutdown();
    await fixture.cleanup();
    await rm(outside, { recursive: true, force: true });
  });

  it('D6: refuses NaN / Inf tensors of every method at load and keeps the good version serving', async () => {
    for (const name of available) {
      const good = await put(name, `${name}-good`);
      assert.equal(good.status, 201, `${name}: ${good.text}`);
      for (const bad of ['nan', 'inf']) {
        const res = await put(name, `${name}-${bad}`);
        assert.equal(res.status, 400, `${name}-${bad}: ${res.text}`);
        assert.equal(res.json.error.code, 'adapter_nonfinite');
        const lazy = await ask(`${name}-${bad}`);
        assert.equal(lazy.status, 400, `lazy load of ${name}-${bad} is refused too: ${lazy.text}`);
      }
      const served = await ask(name);
      assert.equal(served.status, 200, served.text);
      assert.equal(
        served.headers.get('x-peftkit-adapter-version'),
        `${name}@v${good.json.version}`,
        'the good version still serves',
      );
      const text: string = served.json.choices[0].text;
      assert.ok(text === '' || [...text].some((ch) => ch.charCodeAt(0) !== 0), 'not only NUL characters');
      await call(serving.app, 'DELETE', `/v1/adapters/${name}`);
    }
  });

  it('D6: refuses a merged_adapters combination that overflows to Inf (coded 400)', async () => {
    const merged = (weights: number[]) =>
      call(serving.app, 'POST', '/generate', {
        inputs: 'Once',
        parameters: { max_new_tokens: 3, merged_adapters: { ids: ['a', 'b'], weights, merge_strategy: 'linear' } },
      });
    const huge = await merged([1e308, 1e308]);
    assert.equal(huge.status, 400, huge.text);
    assert.equal(huge.json.error_type, 'combination_nonfinite');
    const fine = await merged([0.5, 0.5]);
    assert.equal(fine.status, 200, `still serving: ${fine.text}`);
  });

  it('D10: confines every opened file; errors echo neither contents nor server paths', async () => {
    const root = fixture.adapterRoot;
    await writeFile(join(outside, 'passwd'), 'root:x:0:0:secret-content\n');
    await cp(join(root, 'a', 'adapter_model.safetensors'), join(outside, 'weights.safetensors'));
    await mkdir(join(root, 'link-weights'));
    await cp(join(root, 'a', 'adapter_config.json'), join(root, 'link-weights', 'adapter_config.json'));
    await symlink(join(outside, 'weights.safetensors'), join(root, 'link-weights', 'adapter_model.safetensors'));
    await mkdir(join(root, 'link-config'));
    await symlink(join(outside, 'passwd'), join(root, 'link-config', 'adapter_config.json'));
    await cp(join(root, 'a', 'adapter_model.safetensors'), join(root, 'link-config', 'adapter_model.safetensors'));
    await mkdir(join(root, 'text-config'));
    await writeFile(join(root, 'text-config', 'adapter_config.json'), 'root:x:0:0:secret-content\n');
    await cp(join(root, 'a', 'adapter_model.safetensors'), join(root, 'text-config', 'adapter_model.safetensors'));
    const cases: [string, number, string][] = [
      ['link-weights', 400, 'adapter_path'],
      ['link-config', 400, 'adapter_path'],
      ['text-config', 400, 'adapter_config'],
    ];
    for (const [path, status, code] of cases) {
      for (const res of [await put('x', path), await ask(path)]) {
        assert.equal(res.status, status, `${path}: ${res.text}`);
        assert.equal(res.json.error.code, code, path);
        assert.doesNotMatch(res.text, /root:x|secret-content/, 'no file contents');
        assert.ok(!res.text.includes(outside) && !res.text.includes(root), `no server paths: ${res.text}`);
      }
    }
    assert.equal((await ask('a')).status, 200, 'still serving');
  });

  it(
    'D13 / D14: sizes files before reading them, refuses adapters over the budget, ' + 'evicts idle ones at once',
    async () => {
      const root = fixture.adapterRoot;
      await sparseAdapter(root, 'sparse-1g', 'a', 2 ** 30);
      await sparseAdapter(root, 'sparse-3g', 'a', 3 * 2 ** 30);
      const rss = process.memoryUsage().rss;
      for (const path of ['sparse-1g', 'sparse-3g']) {
        const res = await put('x', path);
        assert.equal(res.status, 400, `${path}: ${res.text}`);
        assert.equal(res.json.error.code, 'adapter_too_large');
      }
      assert.ok(process.memoryUsage().rss - rss < 256 * 2 ** 20, 'the sparse files were never read');
      const big = await put('big', 'big');
      assert.equal(big.status, 400, `loaded size over the budget: ${big.text}`);
      assert.equal(big.json.error.code, 'adapter_too_large');
      const [ra, rb] = await Promise.all([ask('a'), ask('b')]);
      assert.equal(ra.status, 200, ra.text);
      assert.equal(rb.status, 200, rb.text);
      assert.ok(
        engine.stats().adapterBytes <= BUDGET,
        `idle adapters evicted down to the budget: ${engine.stats().adapterBytes}`,
      );
    },
  );

  it('D14: a config whose target modules match nothing is a 400, not a 500', async () => {
    const dir = join(fixture.adapterRoot, 'no-target');
    await cp(join(fixture.adapterRoot, 'a'), dir, { recursive: true });
    const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, target_modules: ['no_such_proj'] }));
    const res = await put('x', 'no-target');
    assert.equal(res.status, 400, res.text);
  });

  it('--max-lora-rank and --max-loras (vLLM-style limits)', async () => {
    const limited = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
      maxLoraRank: 8,
      maxLoras: 1,
    });
    const s = createServing(limited);
    try {
      const rank = await call(s.app, 'PUT', '/v1/adapters/big', {});
      assert.equal(rank.status, 400, rank.text);
      assert.equal(rank.json.error.code, 'adapter_rank');
      const long = s.app.request('/v1/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'a', prompt: 'Once', max_tokens: 120, temperature: 0 }),
      });
      while (limited.stats().adaptersLoaded === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      const busy = await call(s.app, 'POST', '/v1/completions', { model: 'b', prompt: 'Once', max_tokens: 2 });
      assert.equal(busy.status, 503, busy.text);
      assert.equal(busy.json.error.code, 'adapter_slots');
      assert.ok(Number(busy.headers.get('retry-after')) > 0, 'Retry-After');
      assert.equal((await long).status, 200);
      const after = await call(s.app, 'POST', '/v1/completions', { model: 'b', prompt: 'Once', max_tokens: 2 });
      assert.equal(after.status, 200, `the idle one makes room: ${after.text}`);
    } finally {
      await s.shutdown();
    }
  });
});
