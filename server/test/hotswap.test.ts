import { ENGINE_COMPOSITION } from 'peftkit';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServing, LocalEngine, type Serving } from '../src/index.ts';
import { call, createFixture, type Fixture } from './fixture.ts';

const PROMPT = 'Once upon a time';
const TOKENS = 6;
const VERSIONS = 10;

describe('hot swap under load', () => {
  let fixture: Fixture;
  let engine: LocalEngine;
  let serving: Serving;
  /** Expected greedy text per adapter directory, computed with each directory loaded under its own name. */
  const expected = new Map<string, string>();

  before(async () => {
    fixture = await createFixture({ s0: 10, s1: 11, s2: 12, s3: 13 });
    for (let v = 1; v <= VERSIONS; v++) await fixture.writeLora(`s0-v${v}`, 100 + v);
    engine = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
      maxBatch: 32,
    });
    serving = createServing(engine);
    const dirs = ['s0', 's1', 's2', 's3', ...Array.from({ length: VERSIONS }, (_, i) => `s0-v${i + 1}`)];
    for (const dir of dirs) {
      const res = await call(serving.app, 'POST', '/v1/completions', {
        model: dir,
        prompt: PROMPT,
        max_tokens: TOKENS,
        temperature: 0,
      });
      expected.set(dir, res.json.choices[0].text);
    }
    for (const dir of dirs.slice(4)) await engine.unloadAdapter(dir);
  });
  after(async () => {
    await serving.shutdown();
    await fixture.cleanup();
  });

  it(
    'serves 200 concurrent requests over 4 adapters while one is replaced 10 times and another unloaded and ' +
      'reloaded',
    async () => {
      const s0Dirs = ['s0', ...Array.from({ length: VERSIONS }, (_, i) => `s0-v${i + 1}`)];
      assert.equal(
        new Set(s0Dirs.map((d) => expected.get(d))).size,
        s0Dirs.length,
        'every s0 version writes a different text',
      );

      const versionDir = new Map<number, string>();
      const current = (await engine.listAdapters()).find((a) => a.name === 's0');
      assert.ok(current, 's0 loaded');
      versionDir.set(current.version, 's0');

      const requests: Promise<Awaited<ReturnType<typeof call>> & { model: string }>[] = [];
      const admin: Promise<unknown>[] = [];
      for (let wave = 0; wave < VERSIONS; wave++) {
        for (let i = 0; i < 20; i++) {
          const model = `s${i % 4}`;
          requests.push(
            call(serving.app, 'POST', '/v1/completions', {
              model,
              prompt: PROMPT,
              max_tokens: TOKENS,
              temperature: 0,
            }).then((r) => ({ ...r, model })),
          );
        }
        // Replace s0 while this wave is in flight.
        const put = await call(serving.app, 'PUT', '/v1/adapters/s0', { path: `s0-v${wave + 1}` });
        assert.equal(put.status, 200, `swap ${wave + 1}: ${put.text}`);
        versionDir.set(put.json.version, `s0-v${wave + 1}`);
        if (wave % 3 === 1) {
          admin.push(call(serving.app, 'DELETE', '/v1/adapters/s1'));
          await new Promise((resolve) => setTimeout(resolve, 1));
          admin.push(call(serving.app, 'PUT', '/v1/adapters/s1', {}));
        }
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      const responses = await Promise.all(requests);
      await Promise.all(admin);

      // Between an unload and the next load a name is unknown (D9: 404, never the base); nothing else may fail.
      const gap = (r: (typeof responses)[number]) =>
        r.model === 's1' && r.status === 404 && r.json?.error?.code === 'model_not_found';
      const failed = responses.filter((r) => r.status !== 200 && !gap(r));
      assert.equal(failed.length, 0, `failed requests: ${failed.map((f) => f.text).join(' | ')}`);
      const seenS0 = new Set<string>();
      for (const r of responses.filter((x) => x.status === 200)) {
        const label = r.headers.get('x-peftkit-adapter-version') ?? '';
        const [name, version] = label.split('@v');
        assert.equal(name, r.model, `served by the requested adapter (${label})`);
        const dir = r.model === 's0' ? versionDir.get(Number(version)) : r.model;
        assert.ok(dir, `known version ${label}`);
        assert.equal(
          r.json.choices[0].text,
          expected.get(dir as string),
          `${label}: output of exactly its version ${dir}`,
        );
        if (r.model === 's0') seenS0.add(dir as string);
        const matches = [...expected.values()].filter((t) => t === r.json.choices[0].text).length;
        assert.equal(matches, 1, `${label}: the text matches exactly one adapter version`);
      }
      assert.ok(seenS0.size >= 2, `requests saw several s0 versions (${[...seenS0].join(', ')})`);
      const s0 = (await engine.listAdapters()).find((a) => a.name === 's0');
      assert.equal(versionDir.get(s0?.version ?? -1), `s0-v${VERSIONS}`, 'the last replacement is current');
    },
  );

  it('never serves a retired version when a lazy load races an explicit load or unload', async () => {
    const want = expected.get('s3');
    for (let round = 0; round < 3; round++) {
      await engine.unloadAdapter('s3').catch(() => {});
      const asks = Array.from({ length: 4 }, () =>
        call(serving.app, 'POST', '/v1/completions', {
          model: 's3',
          prompt: PROMPT,
          max_tokens: TOKENS,
          temperature: 0,
        }),
      );
      const loads = [engine.loadAdapter('s3', { replace: true }), engine.loadAdapter('s3', { replace: true })];
      const results = await Promise.all(asks);
      await Promise.all(loads);
      for (const r of results) {
        // Asked before a load took effect: unknown since the unload (D9), never the base or a retired version.
        if (r.status === 404) assert.equal(r.json.error.code, 'model_not_found', r.text);
        else
          assert.equal(
            r.json.choices[0].text,
            want,
            `round ${round}: ${r.headers.get('x-peftkit-adapter-version')} served s3`,
          );
      }
    }
  });

  it('frees retired versions once their requests finish (no tensor growth)', async () => {
    const ask = () =>
      call(serving.app, 'POST', '/v1/completions', { model: 's2', prompt: PROMPT, max_tokens: 2, temperature: 0 });
    await ask();
    const start = engine.stats().numTensors;
    for (let i = 0; i < 3; i++) {
      const inflight = ask();
      await call(serving.app, 'PUT', '/v1/adapters/s2', {});
      assert.equal((await inflight).status, 200, 'in-flight request survives the swap');
    }
    await ask();
    assert.equal(engine.stats().numTensors, start, 'old versions disposed');
  });
});
