import { ENGINE_COMPOSITION } from 'peftkit';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServing, LocalEngine, type Serving } from '../src/index.ts';
import { call, createFixture, type Fixture, sseData } from './fixture.ts';

describe('LoRAX routes, queue limits, timeouts', () => {
  let fixture: Fixture;
  let engine: LocalEngine;
  let serving: Serving;

  before(async () => {
    fixture = await createFixture({ x: 31, y: 32 });
    engine = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
    });
    serving = createServing(engine);
  });
  after(async () => {
    await serving.shutdown();
    await fixture.cleanup();
  });

  const openAi = async (model: string, prompt: string, tokens: number) =>
    (await call(serving.app, 'POST', '/v1/completions', { model, prompt, max_tokens: tokens, temperature: 0 })).json
      .choices[0].text as string;

  it('POST /generate uses parameters.adapter_id and returns generated_text and details', async () => {
    const res = await call(serving.app, 'POST', '/generate', {
      inputs: 'Once upon a time',
      parameters: { adapter_id: 'x', max_new_tokens: 8, details: true },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(
      res.json.generated_text,
      await openAi('x', 'Once upon a time', 8),
      'greedy by default, same as the OpenAI route',
    );
    assert.equal(res.json.details.generated_tokens, res.json.details.tokens.length, 'details tokens');
    assert.ok(['length', 'eos_token', 'stop_sequence'].includes(res.json.details.finish_reason), 'TGI finish reason');
  });

  it('POST /generate_stream sends token events, the last with generated_text', async () => {
    const res = await call(serving.app, 'POST', '/generate_stream', {
      inputs: 'Once upon a time',
      parameters: { adapter_id: 'y', max_new_tokens: 6 },
    });
    assert.equal(res.status, 200, res.text);
    const events = sseData(res.text).map((e) => JSON.parse(e));
    assert.equal(events.length, 6, 'one event per token');
    assert.ok(
      events.every((e) => typeof e.token.id === 'number' && e.token.special === false),
      'token events',
    );
    const last = events.at(-1);
    assert.equal(last.generated_text, await openAi('y', 'Once upon a time', 6), 'final text');
    assert.equal(events.map((e) => e.token.text).join(''), last.generated_text, 'tokens add up to the text');
  });

  it('merges adapters on the fly (merged_adapters: linear, ties, dare_linear)', async () => {
    const single = await call(serving.app, 'POST', '/generate', {
      inputs: 'Once upon a time',
      parameters: { max_new_tokens: 8, merged_adapters: { ids: ['x'], weights: [1], merge_strategy: 'linear' } },
    });
    assert.equal(single.status, 200, single.text);
    // PEFT's linear combination of one adapter with weight 1 is that adapter.
    assert.equal(
      single.json.generated_text,
      await openAi('x', 'Once upon a time', 8),
      'weight-1 merge equals the adapter',
    );
    const mix = await call(serving.app, 'POST', '/generate', {
      inputs: 'Once upon a time',
      parameters: {
        max_new_tokens: 8,
        merged_adapters: { ids: ['x', 'y'], weights: [0.5, 0.5], merge_strategy: 'linear' },
      },
    });
    assert.equal(mix.status, 200, mix.text);
    assert.equal(
      mix.headers.get('x-peftkit-adapter-version')?.startsWith('merged-linear-'),
      true,
      'served by a merged adapter',
    );
    const ties = await call(serving.app, 'POST', '/generate', {
      inputs: 'Once upon a time',
      parameters: {
        max_new_tokens: 4,
        merged_adapters: {
          ids: ['x', 'y'],
          weights: [1, 1],
          merge_strategy: 'ties',
          density: 0.5,
          majority_sign_method: 'frequency',
        },
      },
    });
    assert.equal(ties.status, 200, ties.text);
    assert.equal(
      ties.headers.get('x-peftkit-adapter-version')?.startsWith('merged-ties-d0.5-frequency-'),
      true,
      'served by a TIES merge',
    );
    const dare = await call(serving.app, 'POST', '/generate', {
      inputs: 'Once upon a time',
      parameters: {
        max_new_tokens: 4,
        merged_adapters: { ids: ['x', 'y'], weights: [0.5, 0.5], merge_strategy: 'dare_linear', density: 0.7 },
      },
    });
    assert.equal(dare.status, 200, dare.text);
    const bogus = await call(serving.app, 'POST', '/generate', {
      inputs: 'x',
      parameters: { merged_adapters: { ids: ['x', 'y'], weights: [1, 1], merge_strategy: 'magic' } },
    });
    assert.equal(bogus.status, 422, 'unsupported strategy');
    assert.equal(bogus.json.error_type, 'unsupported_merge_strategy', 'LoRAX error shape');
  });

  it('refuses work beyond the queue bound with 429 and Retry-After', async () => {
    const small = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
      maxQueue: 2,
      maxBatch: 1,
    });
    const s = createServing(small);
    try {
      const all = await Promise.all(
        Array.from({ length: 6 }, () => call(s.app, 'POST', '/v1/completions', { prompt: 'Hi', max_tokens: 3 })),
      );
      const refused = all.filter((r) => r.status === 429);
      assert.ok(refused.length >= 1, `some refused (${all.map((r) => r.status)})`);
      assert.equal(refused[0]?.headers.get('retry-after'), '1', 'Retry-After header');
      assert.equal(refused[0]?.json.error.code, 'queue_full', 'stable code');
      assert.ok(
        all.some((r) => r.status === 200),
        'the admitted ones complete',
      );
    } finally {
      await s.shutdown();
    }
  });

  it('cancels a request past its deadline (408) and when the client aborts', async () => {
    const s = createServing(engine, { requestTimeoutMs: 1 });
    const late = await call(s.app, 'POST', '/v1/completions', { prompt: 'Once', max_tokens: 200 });
    assert.equal(late.status, 408, late.text);
    assert.equal(late.json.error.code, 'timeout', 'stable code');
    const controller = new AbortController();
    const before = engine.stats().tokensGenerated;
    const pending = engine.generate(
      {
        prompt: 'Once',
        adapter: null,
        params: { maxTokens: 300, temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, stop: [], seed: 0 },
      },
      { signal: controller.signal, onToken: () => controller.abort() },
    );
    const out = await pending;
    assert.equal(out.finishReason, 'cancelled', 'cancelled by the client');
    assert.ok(engine.stats().tokensGenerated - before < 300, 'stopped early');
  });
});
