import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { createServing } from '../src/index.ts';
import { fakeEngine } from './fake-engine.ts';

// Regression: mounted with host.route('/peft', …), the admin and API keys were checked against the prefixed path,
// so `/peft/v1/adapters` answered without a key.
describe('createServing mounted inside a host Hono app', () => {
  const serving = createServing(fakeEngine([]), { adminKey: 'admin-secret', apiKey: 'api-secret' });
  const host = new Hono();
  host.get('/hello', (c) => c.text('host'));
  host.route('/peft', serving.app);
  const get = (path: string, key?: string) =>
    host.request(`http://127.0.0.1${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

  it('checks the admin key on admin routes under the mount prefix', async () => {
    assert.equal((await get('/peft/v1/adapters')).status, 401, 'no key: refused');
    assert.equal((await get('/peft/v1/adapters', 'api-secret')).status, 401, 'the API key is not the admin key');
    assert.equal((await get('/peft/v1/adapters', 'admin-secret')).status, 200, 'admin key: allowed');
  });

  it('checks the API key on inference routes and leaves the probes open under the prefix', async () => {
    assert.equal((await get('/peft/v1/models')).status, 401, 'no key: refused');
    assert.equal((await get('/peft/v1/models', 'api-secret')).status, 200, 'API key: allowed');
    assert.equal((await get('/peft/health')).status, 200, 'health stays open');
    assert.equal((await get('/hello')).status, 200, "the host app's own route is untouched");
  });

  it('behaves the same unmounted', async () => {
    const plain = createServing(fakeEngine([]), { adminKey: 'admin-secret' });
    assert.equal((await plain.app.request('http://127.0.0.1/v1/adapters')).status, 401, 'no key: refused');
    assert.equal((await plain.app.request('http://127.0.0.1/health')).status, 200, 'health open');
  });
});
