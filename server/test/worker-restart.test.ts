/**
 * D2 / D15: a dead engine worker is noticed (in-flight requests get 503 + Retry-After), restarted with its adapters
 * (preloaded and loaded at runtime, latest versions), reported degraded until it is back, and close() never hangs.
 */
import { PORTS } from '@peftkit/core';
import { ENGINE_COMPOSITION, platformScope } from 'peftkit';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServing, type Serving, WorkerEngine } from '../src/index.ts';
import { call, createFixture, type Fixture } from './fixture.ts';

describe('engine worker death and restart', () => {
  let fixture: Fixture;
  let engine: WorkerEngine;
  let serving: Serving;
  const ask = (model: string, maxTokens = 6) =>
    call(serving.app, 'POST', '/v1/completions', {
      model,
      prompt: 'Once upon a time',
      max_tokens: maxTokens,
      temperature: 0,
    });

  before(async () => {
    fixture = await createFixture({ red: 81, blue: 82, blue2: 83 });
    engine = await WorkerEngine.create(
      {
        composition: ENGINE_COMPOSITION,
        modelDir: fixture.modelDir,
        adapterRoot: fixture.adapterRoot,
        plugins: ['@peftkit/lora'],
        preload: ['red'],
        drainTimeoutMs: 200,
      },
      platformScope().resolve(PORTS.WorkerSpawner),
    );
    serving = createServing(engine);
  });
  after(async () => {
    await serving.shutdown();
    await fixture.cleanup();
  });

  it('fails in-flight requests with 503 + Retry-After, reports degraded, restarts with its adapters', async () => {
    // blue is hot-swapped at runtime to another directory: the restart must bring back that version.
    const put = await call(serving.app, 'PUT', '/v1/adapters/blue', { path: 'blue2' });
    assert.ok(put.status === 200 || put.status === 201, put.text);
    const red0 = await ask('red');
    assert.equal(red0.status, 200, red0.text);
    const before = { red: red0.json.choices[0].text, blue: await ask('blue') };
    assert.equal(before.blue.headers.get('x-peftkit-adapter-version'), `blue@v${put.json.version}`);
    const versionsBefore = engine.stats().nextAdapterVersion;

    const inFlight = ask('red', 240);
    // Killed once the call has reached the worker: waiting for the stats snapshot (pushed every 100 ms) to show it
    // running let a fast enough worker finish all 240 tokens first (seen under Bun in CI).
    while (engine.pendingCalls === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    await engine.kill();
    const failed = await inFlight;
    assert.equal(failed.status, 503, failed.text);
    assert.equal(failed.json.error.code, 'engine_dead');
    assert.equal(failed.headers.get('retry-after'), '1');

    const health = await call(serving.app, 'GET', '/health');
    assert.equal(health.status, 503, 'degraded while restarting');
    assert.equal(health.json.status, 'degraded');
    assert.equal((await call(serving.app, 'GET', '/ready')).status, 503, 'not ready while restarting');
    // A request made during the restart waits for the new worker instead of failing.
    const during = await ask('red');
    assert.equal(during.status, 200, during.text);
    assert.equal(during.json.choices[0].text, before.red, 'same answer after the restart');

    assert.equal((await call(serving.app, 'GET', '/health')).json.status, 'ok');
    const blue = await ask('blue');
    assert.equal(blue.json.choices[0].text, before.blue.json.choices[0].text, 'the runtime-loaded version is back');
    const listed = await engine.listAdapters();
    assert.deepEqual(listed.map((a) => [a.name, a.source]).sort(), [
      ['blue', 'blue2'],
      ['red', 'red'],
    ]);
    assert.ok(
      listed.every((a) => a.version >= versionsBefore),
      'version labels continue, never repeat',
    );
    assert.equal(engine.stats().engineRestarts, 1);
  });

  it('close() finishes even while the worker is dead or restarting', async () => {
    await engine.kill();
    const started = performance.now();
    await serving.shutdown();
    assert.ok(performance.now() - started < 5_000, 'shutdown did not wait for the dead worker');
    assert.equal((await engine.health()).status, 'closed');
  });
});
