import { PORTS } from '@peftkit/core';
import { ENGINE_COMPOSITION, platformScope } from 'peftkit';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { createServing, type Serving, WorkerEngine } from '../src/index.ts';
import { createFixture, type Fixture } from './fixture.ts';
import { type Listening, listen } from './listen.ts';

describe('worker engine behind a real loopback server', () => {
  let fixture: Fixture;
  let engine: WorkerEngine;
  let serving: Serving;
  let server: Listening;
  let client: OpenAI;
  let base: string;

  before(async () => {
    fixture = await createFixture({ red: 21, blue: 22 });
    engine = await WorkerEngine.create(
      {
        composition: ENGINE_COMPOSITION,
        modelDir: fixture.modelDir,
        adapterRoot: fixture.adapterRoot,
        plugins: ['@peftkit/lora'],
      },
      platformScope().resolve(PORTS.WorkerSpawner),
    );
    serving = createServing(engine);
    server = await listen(serving.app);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    base = (await engine.info()).baseModel;
  });
  after(async () => {
    await serving.shutdown();
    await server.close();
    await fixture.cleanup();
  });

  it('answers the openai client: models, completions, chat, streaming', async () => {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    assert.ok(ids.includes(base) && ids.includes('red'), `models: ${ids}`);
    const red = await client.models.retrieve('red');
    assert.equal((red as unknown as { parent: string }).parent, base, 'parent of an adapter');

    const completion = await client.completions.create({
      model: 'red',
      prompt: 'Once upon a time',
      max_tokens: 10,
      temperature: 0,
    });
    assert.equal(completion.choices.length, 1, 'one choice');
    assert.equal(typeof completion.choices[0]?.text, 'string', 'text');
    assert.equal(completion.usage?.completion_tokens, 10, 'usage');

    const stream = await client.completions.create({
      model: 'red',
      prompt: 'Once upon a time',
      max_tokens: 10,
      temperature: 0,
      stream: true,
    });
    let streamed = '';
    for await (const chunk of stream) streamed += chunk.choices[0]?.text ?? '';
    assert.equal(streamed, completion.choices[0]?.text, 'streamed text equals the completion');

    const chat = await client.chat.completions.create({
      model: 'blue',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 8,
      temperature: 0,
    });
    assert.equal(chat.choices[0]?.message.role, 'assistant', 'assistant reply');
    const chatStream = await client.chat.completions.create({
      model: 'blue',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 8,
      temperature: 0,
      stream: true,
    });
    let chatText = '';
    for await (const chunk of chatStream) chatText += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(chatText, chat.choices[0]?.message.content, 'streamed chat equals the chat reply');
  });

  it('keeps /health and /metrics answering while a long generation computes in the worker', async () => {
    let generationDone = false;
    const long = fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'red', prompt: 'Once upon a time', max_tokens: 400, temperature: 0 }),
    })
      .then((r) => r.json())
      .then((body) => {
        generationDone = true;
        return body as { usage: { completion_tokens: number } };
      });
    // Wait until the worker reports the request running, then probe the HTTP thread.
    while (serving.context.engine.stats().running === 0 && !generationDone)
      await new Promise((resolve) => setTimeout(resolve, 5));
    const health = await fetch(`${server.url}/health`);
    const healthBeforeEnd = !generationDone;
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const metricsBeforeEnd = !generationDone;
    assert.equal(health.status, 200, 'health ok');
    assert.ok(healthBeforeEnd, '/health answered before the generation finished');
    assert.ok(metricsBeforeEnd, '/metrics answered before the generation finished');
    assert.match(metrics, /^peftkit_requests_in_flight [1-9]/m, 'the generation is in flight');
    const result = await long;
    assert.ok(result.usage.completion_tokens > 0, 'the long generation completed');
  });

  it('keeps the worker tensor count flat across requests', async () => {
    const ask = () => client.completions.create({ model: 'blue', prompt: 'A bird', max_tokens: 3, temperature: 0 });
    await ask();
    const start = engine.stats().numTensors;
    for (let i = 0; i < 3; i++) await ask();
    assert.equal(engine.stats().numTensors, start, 'no tensor growth in the worker');
  });
});
