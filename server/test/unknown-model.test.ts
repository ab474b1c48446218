import { ENGINE_COMPOSITION } from 'peftkit';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AdapterManager, Tf } from '@peftkit/core';
import { createServing, type Engine, LocalEngine, type Serving, WorkerEngine } from '../src/index.ts';
import { AdapterCache } from '../src/engine/cache.ts';
import { ENGINE_METHODS } from '../src/engine/worker-protocol.ts';
import { call, createFixture, type Fixture } from './fixture.ts';

it('AdapterCache remembers names it found no directory for, until it is told to forget', async () => {
  const root = await mkdtemp(join(tmpdir(), 'peftkit-missing-'));
  try {
    // Unknown names never reach the manager or the tensor runtime.
    const cache = new AdapterCache({} as AdapterManager, {} as Tf, { root, budgetBytes: 1 });
    for (let i = 0; i < 3; i++) await assert.rejects(cache.acquire('nope'), { code: 'PEFTKIT_E_ADAPTER_UNKNOWN' });
    assert.equal(cache.diskProbes, 1, 'one disk probe for three requests');
    cache.forgetMissing();
    await assert.rejects(cache.acquire('nope'), { code: 'PEFTKIT_E_ADAPTER_UNKNOWN' });
    assert.equal(cache.diskProbes, 2, 'probed again after forgetMissing');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

it('WorkerEngine has a proxy method for every RPC method (derived from ENGINE_RPC)', () => {
  const proto = WorkerEngine.prototype as unknown as Record<string, unknown>;
  for (const method of ENGINE_METHODS) assert.equal(typeof proto[method], 'function', method);
});

/** The engine, recording which methods the HTTP layer calls. */
function counting(engine: Engine): { engine: Engine; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(engine, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(key));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { engine: proxy, calls };
}

describe('unknown model names: decided by the engine in one call', () => {
  let fixture: Fixture;
  let local: LocalEngine;
  let counted: ReturnType<typeof counting>;
  let serving: Serving;
  let strict: Serving;
  const ask = (app: Serving, model: string) =>
    call(app.app, 'POST', '/v1/completions', { model, prompt: 'Once upon a time', max_tokens: 4, temperature: 0 });

  before(async () => {
    fixture = await createFixture({ alpha: 1 });
    local = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
    });
    counted = counting(local);
    serving = createServing(counted.engine, { unknownModel: 'base' });
    strict = createServing(counted.engine); // 404 is the default (D9)
    await ask(serving, 'alpha');
    await ask(strict, 'alpha');
  });
  after(async () => {
    await strict.shutdown();
    await serving.shutdown();
    await fixture.cleanup();
  });

  it('falls back to the base with one engine call per request', async () => {
    counted.calls.length = 0;
    for (let i = 0; i < 3; i++) {
      const res = await ask(serving, 'no-such-model');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('x-peftkit-adapter-version'), 'base');
    }
    assert.deepEqual(counted.calls, ['generate', 'generate', 'generate'], 'no retry, no info/list round trips');
  });

  it('answers 404 with one engine call when configured to', async () => {
    counted.calls.length = 0;
    const res = await ask(strict, 'no-such-model');
    assert.equal(res.status, 404, res.text);
    assert.equal(res.json.error.code, 'model_not_found');
    assert.deepEqual(counted.calls, ['generate']);
  });

  it('sees an adapter written after a miss once adapters are loaded or unloaded', async () => {
    assert.equal((await ask(serving, 'late')).headers.get('x-peftkit-adapter-version'), 'base', 'not there yet');
    await fixture.writeLora('late', 5);
    assert.equal(
      (await ask(serving, 'late')).headers.get('x-peftkit-adapter-version'),
      'base',
      'the miss is remembered',
    );
    await fixture.writeLora('other', 6);
    const put = await call(serving.app, 'PUT', '/v1/adapters/other', {});
    assert.ok(put.status === 201 || put.status === 200, put.text);
    assert.match(
      (await ask(serving, 'late')).headers.get('x-peftkit-adapter-version') ?? '',
      /^late@v\d+$/,
      'probed again after the load',
    );
  });
});
