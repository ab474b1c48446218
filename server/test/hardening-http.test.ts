/** Regression tests of the HTTP side of the hardening issue: D3, D8, D9, D14, D16 and observability. */
import { ENGINE_COMPOSITION, parseServeArgs } from 'peftkit';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PeftkitError } from '@peftkit/core';
import { createServing, type Engine, LocalEngine, type Serving } from '../src/index.ts';
import { call, createFixture, type Fixture, sseData } from './fixture.ts';

const metricValue = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
};

describe('server hardening: HTTP', () => {
  let fixture: Fixture;
  let engine: LocalEngine;
  let serving: Serving;
  let base: string;

  before(async () => {
    fixture = await createFixture({ alpha: 1, beta: 2 });
    await mkdir(join(fixture.adapterRoot, 'empty-dir'));
    engine = await LocalEngine.create({
      composition: ENGINE_COMPOSITION,
      modelDir: fixture.modelDir,
      adapterRoot: fixture.adapterRoot,
      plugins: ['@peftkit/lora'],
    });
    serving = createServing(engine);
    base = (await engine.info()).baseModel;
  });
  after(async () => {
    await serving.shutdown();
    await fixture.cleanup();
  });

  it('D3: refuses non-JSON bodies (415), foreign Origins and Hosts (403); loopback and SDK requests pass', async () => {
    const unload = { lora_name: 'alpha' };
    const plain = await call(serving.app, 'POST', '/v1/unload_lora_adapter', JSON.stringify(unload), {
      'content-type': 'text/plain',
    });
    assert.equal(plain.status, 415, plain.text);
    assert.equal(plain.json.error.code, 'unsupported_media_type');
    const form = await call(serving.app, 'POST', '/v1/load_lora_adapter', 'lora_name=x', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(form.status, 415, form.text);
    const origin = await call(
      serving.app,
      'POST',
      '/v1/load_lora_adapter',
      { lora_name: 'alpha', lora_path: 'beta' },
      { origin: 'https://evil.example' },
    );
    assert.equal(origin.status, 403, origin.text);
    assert.equal(origin.json.error.code, 'forbidden_origin');
    const nullOrigin = await call(
      serving.app,
      'POST',
      '/v1/completions',
      { prompt: 'x', max_tokens: 1 },
      { origin: 'null' },
    );
    assert.equal(nullOrigin.status, 403, 'sandboxed frames send Origin: null');
    const rebound = await call(serving.app, 'GET', '/v1/adapters', undefined, { host: 'attacker.example:8000' });
    assert.equal(rebound.status, 403, rebound.text);
    assert.equal(rebound.json.error.code, 'forbidden_host');
    const hosts: Record<string, string>[] = [
      { host: '127.0.0.1:8000' },
      { host: 'localhost:8000', origin: 'http://localhost:3000' },
      { host: '[::1]:8000' },
      { host: '10.1.2.3:8000' },
    ];
    for (const headers of hosts) {
      const ok = await call(serving.app, 'GET', '/v1/adapters', undefined, headers);
      assert.equal(ok.status, 200, `${JSON.stringify(headers)}: ${ok.text}`);
    }
    assert.equal(
      serving.context.engine.stats().adaptersLoaded,
      0,
      'nothing was unloaded or loaded by the refused requests',
    );
    assert.equal(
      (await call(serving.app, 'GET', '/health', undefined, { host: 'anything.example' })).status,
      200,
      'probes are not host-checked',
    );
  });

  it('D3: CORS is off by default and explicit when enabled; allow-lists are options', async () => {
    const preflight = { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' };
    const off = await serving.app.request('/v1/completions', { method: 'OPTIONS', headers: preflight });
    assert.equal(off.headers.get('access-control-allow-origin'), null, 'no CORS by default');
    const open = createServing(engine, {
      cors: true,
      allowedOrigins: ['https://app.example'],
      allowedHosts: ['api.example'],
    });
    const ok = await open.app.request('/v1/completions', {
      method: 'OPTIONS',
      headers: { ...preflight, origin: 'https://app.example' },
    });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
    const evil = await open.app.request('/v1/completions', {
      method: 'OPTIONS',
      headers: { ...preflight, origin: 'https://evil.example' },
    });
    assert.equal(evil.headers.get('access-control-allow-origin'), null, 'other origins get no CORS grant');
    const viaProxy = await call(open.app, 'GET', '/v1/models', undefined, {
      host: 'api.example',
      origin: 'https://app.example',
    });
    assert.equal(viaProxy.status, 200, viaProxy.text);
  });

  it('D3: refuses to start with open admin routes on a non-loopback address without --allow-open-admin', () => {
    const argv = ['--model', 'm', '--adapters', 'a', '--host', '0.0.0.0'];
    assert.throws(() => parseServeArgs(argv, {}), /allow-open-admin/);
    assert.equal(parseServeArgs([...argv, '--allow-open-admin'], {}).host, '0.0.0.0');
    assert.equal(parseServeArgs(argv, { PEFTKIT_ADMIN_KEY: 'k' }).host, '0.0.0.0');
    const local = parseServeArgs(
      [
        '--model',
        'm',
        '--adapters',
        'a',
        '--allowed-origins',
        'https://a.example',
        '--cors',
        '--body-limit-kb',
        '8',
        '--request-timeout-s',
        '5',
      ],
      {},
    );
    assert.deepEqual(local.server.allowedOrigins, ['https://a.example']);
    assert.equal(local.server.cors, true);
    assert.equal(local.server.bodyLimitBytes, 8192, '--body-limit-kb (D16)');
    assert.equal(local.server.requestTimeoutMs, 5000, '--request-timeout-s (D16)');
    assert.equal(local.server.unknownModel, '404', '404 by default (D9)');
    const limits = parseServeArgs(['--model', 'm', '--adapters', 'a', '--max-lora-rank', '16', '--max-loras', '4'], {});
    assert.equal(limits.engine.maxLoraRank, 16);
    assert.equal(limits.engine.maxLoras, 4);
  });

  it('D8: streams carry the adapter version, count as in flight and are timed to their last event', async () => {
    const latencySum = async () =>
      metricValue(
        (await call(serving.app, 'GET', '/metrics')).text,
        'peftkit_request_duration_seconds_sum{route="/v1/completions"}',
      ) || 0;
    const before = await latencySum();
    const t0 = performance.now();
    const res = await serving.app.request('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'alpha',
        prompt: 'Once upon a time',
        max_tokens: 80,
        temperature: 0,
        stream: true,
      }),
    });
    const t1 = performance.now();
    assert.match(
      res.headers.get('x-peftkit-adapter-version') ?? '',
      /^alpha@v\d+$/,
      'stream names its adapter version',
    );
    const inFlight = metricValue((await call(serving.app, 'GET', '/metrics')).text, 'peftkit_requests_in_flight');
    assert.ok(inFlight >= 2, `the open stream is in flight (plus the scrape itself): ${inFlight}`);
    const text = await res.text();
    const t2 = performance.now();
    assert.equal(sseData(text).at(-1), '[DONE]');
    const recorded = (await latencySum()) - before;
    assert.ok(
      recorded * 1000 >= t1 - t0 + (t2 - t1) * 0.5,
      `recorded ${recorded * 1000} ms; headers ${t1 - t0} ms, body ${t2 - t1} ms`,
    );
    for (const [path, body] of [
      [
        '/v1/chat/completions',
        { model: 'beta', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, stream: true },
      ],
      ['/generate_stream', { inputs: 'Once', parameters: { adapter_id: 'beta', max_new_tokens: 3 } }],
    ] as const) {
      const streamed = await serving.app.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.match(streamed.headers.get('x-peftkit-adapter-version') ?? '', /^beta@v\d+$/, path);
      await streamed.text();
    }
  });

  it(
    'D9: unknown models are 404 model_not_found; unload → load of the same name is a clean state ' + 'machine',
    async () => {
      const ask = (model: string) =>
        call(serving.app, 'POST', '/v1/completions', { model, prompt: 'Once', max_tokens: 2, temperature: 0 });
      const unknown = await ask('no-such-model');
      assert.equal(unknown.status, 404, unknown.text);
      assert.equal(unknown.json.error.code, 'model_not_found');
      assert.equal((await ask('alpha')).status, 200, 'lazily loaded');
      const load = await call(serving.app, 'POST', '/v1/load_lora_adapter', { lora_name: 'alpha', lora_path: 'alpha' });
      assert.equal(load.status, 200, `a load adopts a lazily loaded adapter: ${load.text}`);
      assert.equal((await call(serving.app, 'POST', '/v1/unload_lora_adapter', { lora_name: 'alpha' })).status, 200);
      const between = await ask('alpha');
      assert.equal(between.status, 404, `unloaded means unknown (no base, no lazy reload): ${between.text}`);
      const reload = await call(serving.app, 'POST', '/v1/load_lora_adapter', {
        lora_name: 'alpha',
        lora_path: 'alpha',
      });
      assert.equal(reload.status, 200, `load after unload works: ${reload.text}`);
      assert.match((await ask('alpha')).headers.get('x-peftkit-adapter-version') ?? '', /^alpha@v\d+$/);
    },
  );

  it('D14: unexpected engine errors are logged and answered with a generic 500', async () => {
    const logged: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => logged.push(args.map(String).join(' '));
    try {
      for (const thrown of [
        new Error('secret /home/op/models/x.bin'),
        new PeftkitError('PEFTKIT_E_INTERNAL', 'invariant broke at /srv/secret', {}),
      ]) {
        const broken = createServing({
          ...engine,
          info: () => engine.info(),
          generate: () => Promise.reject(thrown),
        } as unknown as Engine);
        const res = await call(broken.app, 'POST', '/v1/completions', { prompt: 'x', max_tokens: 1 });
        assert.equal(res.status, 500, res.text);
        assert.doesNotMatch(res.text, /secret|\/home|\/srv/, 'no internals reach the client');
      }
    } finally {
      console.error = original;
    }
    assert.ok(
      logged.some((l) => l.includes('/srv/secret')) && logged.some((l) => l.includes('/home/op')),
      'both logged server-side',
    );
  });

  it(
    'D16: 405 + Allow, WWW-Authenticate, Retry-After, reserved and nested names, available, ' + 'unsupported fields',
    async () => {
      const wrong = await call(serving.app, 'GET', '/v1/completions');
      assert.equal(wrong.status, 405, wrong.text);
      assert.equal(wrong.headers.get('allow'), 'POST');
      assert.equal((await call(serving.app, 'POST', '/v1/adapters/alpha')).headers.get('allow'), 'PUT, DELETE');
      const keyed = createServing(engine, { adminKey: 'k' });
      const denied = await call(keyed.app, 'GET', '/v1/adapters');
      assert.equal(denied.status, 401);
      assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer/);
      const reserved = await call(serving.app, 'POST', '/v1/load_lora_adapter', {
        lora_name: base,
        lora_path: 'alpha',
      });
      assert.equal(reserved.status, 400, reserved.text);
      assert.equal(reserved.json.error.code, 'adapter_name');
      const nested = await call(serving.app, 'POST', '/v1/completions', {
        model: 'team/nested',
        prompt: 'x',
        max_tokens: 1,
      });
      assert.equal(nested.status, 400, nested.text);
      assert.equal(nested.json.error.code, 'adapter_name');
      const listed = await call(serving.app, 'GET', '/v1/adapters');
      assert.ok(
        !listed.json.available.includes('empty-dir'),
        `a directory without an adapter is not available: ${listed.text}`,
      );
      for (const [field, value] of [
        ['best_of', 2],
        ['logprobs', 1],
      ] as const) {
        const res = await call(serving.app, 'POST', '/v1/completions', { prompt: 'x', max_tokens: 1, [field]: value });
        assert.equal(res.status, 400, `${field}: ${res.text}`);
        assert.equal(res.json.error.param, field);
        assert.match(res.json.error.message, /not supported/);
      }
      assert.equal(
        (await call(serving.app, 'POST', '/v1/completions', { prompt: 'x', max_tokens: 1, best_of: 1, logprobs: null }))
          .status,
        200,
        'defaults pass',
      );
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.name);
      process.on('warning', onWarning);
      const many = await call(serving.app, 'POST', '/v1/completions', {
        prompt: Array.from({ length: 16 }, (_, i) => `p${i}`),
        max_tokens: 1,
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      process.off('warning', onWarning);
      assert.equal(many.status, 200, many.text);
      assert.ok(!warnings.includes('MaxListenersExceededWarning'), warnings.join());
      const drain = createServing(engine);
      drain.context.state.draining = true;
      const refused = await call(drain.app, 'POST', '/v1/completions', { prompt: 'x' });
      assert.equal(refused.status, 503);
      assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After on 503');
    },
  );

  it('observability: request ids, TTFT / inter-token / per-adapter metrics, histogram sums, access log', async () => {
    const lines: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => lines.push(args.map(String).join(' '));
    const logged = createServing(engine, { accessLog: true });
    let given: Response;
    try {
      given = await logged.app.request('/v1/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'req-42' },
        body: JSON.stringify({ model: 'beta', prompt: 'Once', max_tokens: 4 }),
      });
      await given.text();
    } finally {
      console.error = original;
    }
    assert.equal(given.headers.get('x-request-id'), 'req-42', 'echoed');
    const entry = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.request_id === 'req-42');
    assert.equal(entry?.status, 200, lines.join('\n'));
    assert.match(String(entry?.adapter), /^beta@v\d+$/);
    const fresh = await call(serving.app, 'GET', '/health');
    assert.match(fresh.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, 'generated when absent');
    const text = (await call(logged.app, 'GET', '/metrics')).text;
    for (const series of [
      'peftkit_time_to_first_token_seconds_count',
      'peftkit_inter_token_latency_seconds_count',
      'peftkit_batch_size_sum',
    ]) {
      assert.ok(metricValue(text, series) > 0, `${series} in\n${text}`);
    }
    assert.ok(metricValue(text, 'peftkit_adapter_requests_total{adapter="beta"}') >= 1, 'per-adapter counter');
    assert.ok(metricValue(text, 'peftkit_engine_restarts_total') >= 0, 'restarts exposed');
    assert.ok(metricValue(text, 'peftkit_queue_depth') >= 0, 'queue depth exposed');
  });
});
