/**
 * Regression tests of the engine side of the server hardening issue: D1 (one request fails its batch), D4 (a lazy
 * load reverting an acknowledged PUT), D5 (admission before tokenizing), D11 (per-request RNG), D12 (what
 * --max-queue counts), D15 (drain timeout).
 */
import { loadTokenizer } from '@peftkit/models';
import { ENGINE_COMPOSITION } from 'peftkit';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServing, type EngineOptions, LocalEngine } from '../src/index.ts';
import { call, createFixture, type Fixture, GREEDY } from './fixture.ts';

const codeOf = (r: PromiseSettledResult<unknown>) =>
  r.status === 'rejected' ? (r.reason as { code?: string }).code : 'ok';

describe('engine hardening', () => {
  let fixture: Fixture;
  let engine: LocalEngine;
  const open = (extra: Partial<EngineOptions> = {}) =>
    LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
      ...extra,
    });

  before(async () => {
    fixture = await createFixture({ red: 61, fresh: 62 });
    for (let i = 0; i < 12; i++) await fixture.writeLora(`race${i}`, 70 + i, { r: 32 });
    engine = await open({ batchWindowMs: 20 });
  });
  after(async () => {
    await engine.close();
    await fixture.cleanup();
  });

  it('D1: a long valid request does not fail the short requests batched with it', async () => {
    const { maxPositions } = await engine.info();
    const long = Array.from({ length: maxPositions - 16 }, (_, i) => 1 + (i % 300));
    const results = await Promise.allSettled([
      ...Array.from({ length: 4 }, () =>
        engine.generate({ prompt: 'Once upon a time', adapter: null, params: { ...GREEDY, maxTokens: 64 } }),
      ),
      engine.generate({ ids: long, adapter: null, params: { ...GREEDY, maxTokens: 8 } }),
      // Invalid alone: fails alone.
      engine.generate({ ids: long, adapter: null, params: { ...GREEDY, maxTokens: 64 } }),
    ]);
    assert.deepEqual(results.map(codeOf), ['ok', 'ok', 'ok', 'ok', 'ok', 'PEFTKIT_E_CONTEXT_LENGTH']);
    const outs = results.slice(0, 5).map((r) => (r as PromiseFulfilledResult<{ ids: number[] }>).value);
    assert.equal(outs[4]?.ids.length, 8, 'the long request got its 8 tokens');
  });

  it('D11: unseeded sampling varies, a seed reproduces alone and batched', async () => {
    const sample = { ...GREEDY, temperature: 1, maxTokens: 16 };
    const { seed: _none, ...unseeded } = sample;
    const ask = (seed?: number) =>
      engine.generate({
        prompt: 'Once upon a time',
        adapter: null,
        params: seed === undefined ? unseeded : { ...sample, seed },
      });
    const free = await Promise.all([ask(), ask(), ask(), ask()]);
    assert.ok(new Set(free.map((o) => o.text)).size > 1, 'unseeded answers differ');
    const alone = (await ask(1234)).text;
    const batched = await Promise.all([ask(7), ask(1234), ask(), ask(99)]);
    assert.equal(batched[1]?.text, alone, 'seeded text does not depend on the batch');
    assert.equal((await ask(1234)).text, alone, 'seeded text repeats');
  });

  it('D12: --max-queue counts only requests beyond the free batch slots; 0 admits what fits', async () => {
    const small = await open({ maxBatch: 4, maxQueue: 0, batchWindowMs: 20 });
    try {
      const ask = () => small.generate({ prompt: 'Once', adapter: null, params: { ...GREEDY, maxTokens: 4 } });
      const fit = await Promise.allSettled([ask(), ask(), ask(), ask()]);
      assert.deepEqual(fit.map(codeOf), ['ok', 'ok', 'ok', 'ok'], '4 requests fit 4 free slots with --max-queue 0');
      const over = await Promise.allSettled(Array.from({ length: 6 }, ask));
      assert.deepEqual(over.map(codeOf), ['ok', 'ok', 'ok', 'ok', 'PEFTKIT_E_QUEUE_FULL', 'PEFTKIT_E_QUEUE_FULL']);
    } finally {
      await small.close();
    }
  });

  it('D4: a lazy load that began before a PUT never reverts it', async () => {
    const reverted: string[] = [];
    for (let i = 0; i < 12; i++) {
      const name = `race${i}`;
      // The request starts a lazy load of the old directory; the PUT (another directory) begins right after.
      const lazy = engine.generate({ prompt: 'Once', adapter: name, params: { ...GREEDY, maxTokens: 2 } });
      const put = await engine.loadAdapter(name, { path: 'fresh', replace: true });
      await lazy;
      const after = await engine.generate({ prompt: 'Once', adapter: name, params: { ...GREEDY, maxTokens: 2 } });
      if (after.adapterVersion !== `${name}@v${put.version}`)
        reverted.push(`${name}: ${after.adapterVersion} after PUT v${put.version}`);
      const listed = (await engine.listAdapters()).find((a) => a.name === name);
      if (listed?.source !== 'fresh') reverted.push(`${name}: source ${listed?.source}`);
    }
    assert.deepEqual(reverted, [], 'every acknowledged PUT stays');
  });

  it('D5: prompts over the byte cap are refused before tokenizing (413), over the token cap 400', async () => {
    const capped = await open({ maxInputTokens: 32 });
    const serving = createServing(capped);
    try {
      const info = await capped.info();
      assert.equal(info.maxInputTokens, 32);
      const huge = 'x'.repeat(2 ** 20 - 100);
      const started = performance.now();
      await assert.rejects(capped.generate({ prompt: huge, adapter: null, params: GREEDY }), {
        code: 'PEFTKIT_E_PROMPT_TOO_LARGE',
      });
      const refusal = performance.now() - started;
      // Against the cost of tokenizing a sixteenth of it, on this machine at this load (not a fixed budget).
      const tokenizer = await loadTokenizer(fixture.modelDir);
      const tokenizing = performance.now();
      tokenizer.encode(huge.slice(0, huge.length / 16));
      const sixteenth = performance.now() - tokenizing;
      assert.ok(
        refusal < sixteenth,
        `refused in ${refusal.toFixed(1)} ms, before tokenizing (1/16 of it: ${sixteenth.toFixed(1)} ms)`,
      );
      const words = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ');
      await assert.rejects(capped.generate({ prompt: words, adapter: null, params: GREEDY }), {
        code: 'PEFTKIT_E_PROMPT_TOO_LONG',
      });
      const bytes = await call(serving.app, 'POST', '/v1/completions', {
        prompt: 'x'.repeat(info.maxInputBytes + 1),
        max_tokens: 2,
      });
      assert.equal(bytes.status, 413, bytes.text);
      assert.equal(bytes.json.error.code, 'prompt_too_large');
      const tokens = await call(serving.app, 'POST', '/v1/completions', { prompt: words, max_tokens: 2 });
      assert.equal(tokens.status, 400, tokens.text);
      assert.equal(tokens.json.error.code, 'prompt_too_long');
      const ok = await call(serving.app, 'POST', '/v1/completions', { prompt: 'Once upon a time', max_tokens: 2 });
      assert.equal(ok.status, 200, 'the server keeps serving');
    } finally {
      await serving.shutdown();
    }
  });

  it('D15: close() stops waiting after the drain timeout and fails what still runs', async () => {
    const slow = await open({ drainTimeoutMs: 50, maxBatch: 32 });
    const running = Array.from({ length: 16 }, () =>
      slow.generate({ prompt: 'Once upon a time', adapter: null, params: { ...GREEDY, maxTokens: 200 } }),
    );
    while (slow.stats().steps === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    const started = performance.now();
    await slow.close();
    const elapsed = performance.now() - started;
    const codes = (await Promise.allSettled(running)).map(codeOf);
    assert.ok(codes.includes('PEFTKIT_E_SHUTTING_DOWN'), `requests past the drain timeout fail: ${codes.join(',')}`);
    assert.ok(elapsed < 2_000, `closed in ${elapsed.toFixed(0)} ms`);
    assert.equal((await slow.health()).status, 'closed');
  });
});
