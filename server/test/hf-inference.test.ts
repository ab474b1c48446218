import { ENGINE_COMPOSITION } from 'peftkit';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InferenceClient } from '@huggingface/inference';
import { createServing, LocalEngine, type Serving } from '../src/index.ts';
import { call, createFixture, type Fixture } from './fixture.ts';
import { type Listening, listen } from './listen.ts';

// The real @huggingface/inference client against a listening server: textGeneration and textGenerationStream with
// `endpointUrl` (the client posts OpenAI-style to {endpointUrl}/v1/completions and reads TGI-style stream tokens).

describe('@huggingface/inference client on loopback', () => {
  let fixture: Fixture;
  let engine: LocalEngine;
  let serving: Serving;
  let server: Listening;

  before(async () => {
    fixture = await createFixture({ alpha: 1 });
    engine = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
      batchWindowMs: 5,
    });
    serving = createServing(engine);
    server = await listen(serving.app);
  });
  after(async () => {
    await server.close();
    await serving.shutdown();
    await fixture.cleanup();
  });

  it('textGeneration returns the same text the OpenAI route gives for the same greedy request', async () => {
    const client = new InferenceClient();
    const out = await client.textGeneration({
      endpointUrl: server.url,
      inputs: 'Once upon a time',
      parameters: { max_new_tokens: 8, temperature: 0 },
    });
    const direct = await call(serving.app, 'POST', '/v1/completions', {
      prompt: 'Once upon a time',
      max_tokens: 8,
      temperature: 0,
    });
    assert.equal(typeof out.generated_text, 'string', 'generated_text');
    assert.equal(out.generated_text, direct.json.choices[0].text, 'same greedy text');
  });

  it('textGenerationStream yields token.text pieces that add up to the full text', async () => {
    const client = new InferenceClient();
    let text = '';
    let tokens = 0;
    for await (const event of client.textGenerationStream({
      endpointUrl: server.url,
      inputs: 'Lily saw',
      parameters: { max_new_tokens: 6, temperature: 0 },
    })) {
      if (event.token) {
        text += event.token.text;
        tokens++;
      }
    }
    const direct = await call(serving.app, 'POST', '/v1/completions', {
      prompt: 'Lily saw',
      max_tokens: 6,
      temperature: 0,
    });
    assert.ok(tokens >= 1, 'streamed tokens');
    assert.equal(text, direct.json.choices[0].text, 'streamed text equals the non-streamed text');
  });
});
