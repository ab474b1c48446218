import { ENGINE_COMPOSITION } from 'peftkit';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServing, LocalEngine, type Serving } from '../src/index.ts';
import { call, createFixture, type Fixture, GREEDY, sseData } from './fixture.ts';

describe('OpenAI-compatible routes (in-process engine, app.request)', () => {
  let fixture: Fixture;
  let engine: LocalEngine;
  let serving: Serving;
  let base: string;

  before(async () => {
    fixture = await createFixture({ alpha: 1, beta: 2 });
    engine = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
      batchWindowMs: 20,
    });
    serving = createServing(engine);
    base = (await engine.info()).baseModel;
  });
  after(async () => {
    await serving.shutdown();
    await fixture.cleanup();
  });

  it('completes a string prompt with usage, matching the engine called directly', async () => {
    const direct = await engine.generate({ prompt: 'Once upon a time', adapter: null, params: GREEDY });
    const res = await call(serving.app, 'POST', '/v1/completions', {
      model: base,
      prompt: 'Once upon a time',
      max_tokens: 12,
      temperature: 0,
    });
    assert.equal(res.status, 200, `status ${res.status}: ${res.text}`);
    assert.equal(res.json.object, 'text_completion', 'object type');
    assert.equal(res.json.choices[0].text, direct.text, 'same text as the engine');
    assert.equal(res.json.usage.completion_tokens, direct.ids.length, 'completion tokens counted');
    assert.equal(
      res.json.usage.total_tokens,
      res.json.usage.prompt_tokens + res.json.usage.completion_tokens,
      'usage adds up',
    );
    assert.ok(['stop', 'length'].includes(res.json.choices[0].finish_reason), 'finish reason');
  });

  it('accepts string[], number[] and number[][] prompts (one choice per prompt)', async () => {
    const one = await call(serving.app, 'POST', '/v1/completions', {
      prompt: ['Tom had', 'The cat'],
      max_tokens: 5,
      temperature: 0,
    });
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(
      one.json.choices.map((c: { index: number }) => c.index),
      [0, 1],
      'two choices',
    );
    const ids = [1, 100, 200, 300];
    const flat = await call(serving.app, 'POST', '/v1/completions', { prompt: ids, max_tokens: 5, temperature: 0 });
    const nested = await call(serving.app, 'POST', '/v1/completions', {
      prompt: [ids, ids],
      max_tokens: 5,
      temperature: 0,
    });
    assert.equal(flat.status, 200, flat.text);
    assert.equal(nested.json.choices.length, 2, 'nested ids give two choices');
    assert.equal(nested.json.choices[1].text, flat.json.choices[0].text, 'same ids, same greedy text');
    assert.equal(flat.json.usage.prompt_tokens, ids.length, 'prompt ids counted as given');
  });

  it(
    'selects the adapter named by model; with --unknown-model base, ' +
      'unknown and URL-like models fall back to the base',
    async () => {
      const fallback = createServing(engine, { unknownModel: 'base' });
      const ask = (model: string) =>
        call(fallback.app, 'POST', '/v1/completions', {
          model,
          prompt: 'Once upon a time',
          max_tokens: 10,
          temperature: 0,
        });
      const [b, a, unknown, url] = await Promise.all([
        ask(base),
        ask('alpha'),
        ask('no-such-model'),
        ask('http://127.0.0.1:9/v1'),
      ]);
      assert.equal(a.status, 200, a.text);
      assert.notEqual(a.json.choices[0].text, b.json.choices[0].text, 'the adapter changes the output');
      assert.equal(a.headers.get('x-peftkit-adapter-version')?.startsWith('alpha@v'), true, 'adapter version header');
      assert.equal(unknown.json.choices[0].text, b.json.choices[0].text, 'unknown model → base');
      assert.equal(url.json.choices[0].text, b.json.choices[0].text, 'URL-like model → base');
    },
  );

  it('answers 404 model_not_found for unknown models by default (OpenAI, vLLM)', async () => {
    const res = await call(serving.app, 'POST', '/v1/completions', {
      model: 'no-such-model',
      prompt: 'x',
      max_tokens: 2,
    });
    assert.equal(res.status, 404, res.text);
    assert.equal(res.json.error.code, 'model_not_found', 'stable code');
    assert.equal(res.json.error.param, 'model', 'names the field');
    assert.equal(typeof res.json.error.message, 'string', 'message present');
  });

  it('renders the chat template and answers chat completions', async () => {
    const messages = [{ role: 'user', content: 'Tell me a story.' }];
    const direct = await engine.generate({
      prompt: 'user: Tell me a story.\nassistant:',
      addBos: true,
      adapter: null,
      params: { ...GREEDY, maxTokens: 8 },
    });
    const res = await call(serving.app, 'POST', '/v1/chat/completions', {
      model: base,
      messages,
      max_tokens: 8,
      temperature: 0,
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.object, 'chat.completion', 'object type');
    assert.equal(res.json.choices[0].message.role, 'assistant', 'assistant message');
    assert.equal(res.json.choices[0].message.content, direct.text, 'template rendered as role: content lines');
    assert.equal(res.json.usage.prompt_tokens, direct.promptTokens, 'prompt tokens of the rendered template');
  });

  it('streams completions and chat as SSE ending in [DONE]', async () => {
    const plain = await call(serving.app, 'POST', '/v1/completions', {
      model: 'beta',
      prompt: 'Lily saw',
      max_tokens: 8,
      temperature: 0,
    });
    const streamed = await call(serving.app, 'POST', '/v1/completions', {
      model: 'beta',
      prompt: 'Lily saw',
      max_tokens: 8,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(streamed.status, 200, streamed.text);
    assert.match(streamed.headers.get('content-type') ?? '', /text\/event-stream/, 'SSE content type');
    const events = sseData(streamed.text);
    assert.equal(events.at(-1), '[DONE]', 'ends with [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const text = chunks.map((c) => c.choices[0]?.text ?? '').join('');
    assert.equal(text, plain.json.choices[0].text, 'streamed text equals the non-streamed text');
    assert.ok(
      chunks.some((c) => c.usage?.completion_tokens === plain.json.usage.completion_tokens),
      'usage chunk present',
    );
    assert.ok(
      chunks.some((c) => typeof c.token?.id === 'number'),
      'TGI-style token field for HF clients',
    );
    const chat = await call(serving.app, 'POST', '/v1/chat/completions', {
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 5,
      stream: true,
    });
    const chatEvents = sseData(chat.text);
    assert.equal(chatEvents.at(-1), '[DONE]', 'chat stream ends with [DONE]');
    assert.equal(JSON.parse(chatEvents[0] as string).object, 'chat.completion.chunk', 'chat chunk objects');
  });

  it('lists the base and every adapter with parent', async () => {
    const res = await call(serving.app, 'GET', '/v1/models');
    assert.equal(res.status, 200, res.text);
    const ids = res.json.data.map((m: { id: string }) => m.id);
    assert.ok(ids.includes(base) && ids.includes('alpha') && ids.includes('beta'), `ids: ${ids}`);
    assert.equal(
      res.json.data.find((m: { id: string }) => m.id === 'alpha').parent,
      base,
      'adapter parent is the base',
    );
    const one = await call(serving.app, 'GET', '/v1/models/alpha');
    assert.equal(one.json.parent, base, 'single model parent');
    const missing = await call(serving.app, 'GET', '/v1/models/zzz');
    assert.equal(missing.status, 404, 'unknown model id');
    assert.equal(missing.json.error.code, 'model_not_found', 'stable code');
  });

  it(
    'coalesces concurrent requests for different adapters into mixed batches, ' + 'with the same outputs as alone',
    async () => {
      const prompt = 'The dog';
      const solo: string[] = [];
      for (const m of [base, 'alpha', 'beta']) {
        const r = await call(serving.app, 'POST', '/v1/completions', {
          model: m,
          prompt,
          max_tokens: 6,
          temperature: 0,
        });
        solo.push(r.json.choices[0].text);
      }
      const before = engine.stats();
      const together = await Promise.all(
        [base, 'alpha', 'beta'].map((m) =>
          call(serving.app, 'POST', '/v1/completions', { model: m, prompt, max_tokens: 6, temperature: 0 }),
        ),
      );
      const after = engine.stats();
      assert.deepEqual(
        together.map((r) => r.json.choices[0].text),
        solo,
        'mixed batch rows equal solo runs',
      );
      assert.equal(after.batches - before.batches, 1, 'one batch for three adapters');
      assert.equal(after.steps - before.steps, 6, 'six decode steps for three requests of six tokens');
    },
  );

  it('keeps the tensor count flat across requests', async () => {
    const once = () =>
      call(serving.app, 'POST', '/v1/completions', { model: 'alpha', prompt: 'A bird', max_tokens: 4, temperature: 0 });
    await once();
    const start = engine.stats().numTensors;
    for (let i = 0; i < 3; i++) await once();
    assert.equal(engine.stats().numTensors, start, 'no tensor leak');
  });

  it(
    'accepts the request shape of @huggingface/inference textGeneration (endpoint URL as model, ' +
      'flattened parameters)',
    async () => {
      // What the client posts to {endpointUrl}/v1/completions (see shared/reference/data.md); the package itself is
      // not installed here, so its request is reproduced.
      const res = await call(serving.app, 'POST', '/v1/completions', {
        model: 'http://127.0.0.1:8000',
        prompt: 'Once upon a time',
        max_tokens: 6,
        temperature: 0,
        return_full_text: false,
        do_sample: false,
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(typeof res.json.choices[0].text, 'string', 'choices[0].text as the client reads it');
      const stream = await call(serving.app, 'POST', '/v1/completions', {
        model: 'http://127.0.0.1:8000',
        prompt: 'Once',
        max_tokens: 3,
        stream: true,
      });
      const chunks = sseData(stream.text)
        .filter((d) => d !== '[DONE]')
        .map((d) => JSON.parse(d));
      assert.ok(
        chunks
          .filter((c) => c.token)
          .every((c) => typeof c.token.text === 'string' && c.token.text === c.choices[0].text),
        'textGenerationStream reads token.text; it equals choices[0].text',
      );
    },
  );

  it('answers /health, /ready and Prometheus /metrics', async () => {
    assert.equal((await call(serving.app, 'GET', '/health')).json.status, 'ok', 'health');
    assert.equal((await call(serving.app, 'GET', '/ready')).status, 200, 'ready');
    const metrics = await call(serving.app, 'GET', '/metrics');
    assert.match(
      metrics.text,
      /^peftkit_requests_total\{route="\/v1\/completions",status="200"\} \d+$/m,
      'request counter',
    );
    assert.match(
      metrics.text,
      /^peftkit_request_duration_seconds_bucket\{route="\/v1\/completions",le="\+Inf"\} \d+$/m,
      'latency histogram',
    );
    assert.match(metrics.text, /^peftkit_generated_tokens_total [1-9]\d*$/m, 'tokens');
    assert.match(metrics.text, /^peftkit_batch_size_count [1-9]\d*$/m, 'batch sizes');
    assert.match(metrics.text, /^peftkit_adapters_loaded 2$/m, 'adapters loaded');
  });
});
