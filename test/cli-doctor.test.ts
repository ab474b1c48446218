import assert from 'node:assert/strict';
import { runMain } from './support/cli-main.ts';
import { test } from 'node:test';
import { PLUGIN_API_VERSION } from '@peftkit/core';

const run = runMain;

test('--version prints the app version and the plugin API version', async () => {
  const r = await run(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.out, `peftkit 0.1.0 (plugin API ${PLUGIN_API_VERSION})\n`);
});

test('doctor --json: runtime, backend and why, backends, native libraries, plugins, embedded model', async () => {
  const r = await run(['doctor', '--json', '--backend', 'cpu']);
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out);
  assert.deepEqual(Object.keys(report).sort(), [
    'backend',
    'embeddedModel',
    'native',
    'peftkit',
    'pluginApi',
    'plugins',
    'projectConfig',
    'runtime',
  ]);
  assert.match(report.runtime.name, /^(node|deno|bun)$/);
  assert.match(report.runtime.version, /^\d+\.\d+/);
  assert.deepEqual([report.backend.chosen, report.backend.reason], ['cpu', 'requested with --backend']);
  const names = report.backend.available.map((b: { name: string }) => b.name);
  assert.deepEqual(names, ['tensorflow', 'wasm', 'cpu'], 'every backend, highest priority first');
  for (const b of report.backend.available) assert.equal(typeof b.available, 'boolean');
  assert.ok(Array.isArray(report.native));
  assert.equal(report.pluginApi, PLUGIN_API_VERSION);
  const lora = report.plugins.find((p: { name: string }) => p.name === 'lora');
  assert.ok(lora && /^\d+\.\d+\.\d+/.test(lora.version) && lora.core === '^1.0.0', 'first-party plugins with versions');
  assert.match(report.embeddedModel.path, /peftkit-moby$/);
  assert.equal(report.embeddedModel.present, true);
});

test(
  'doctor (text) names the backend reason and lists third-party plugins; a bad backend is reported, ' + 'exit 1',
  async () => {
    const r = await run(['doctor', '--plugin', 'peftkit-plugin-ia3-fixture']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^runtime: (node|deno|bun) /m);
    assert.match(r.out, /^tensor backend: \w+ \((the available backend with the highest priority|PEFTKIT_BACKEND)\)$/m);
    assert.match(r.out, /^ {2}wasm +priority 200 {2}available$/m);
    assert.match(r.out, /^native accelerations: /m);
    assert.match(r.out, /^ {2}ia3 +0\.1\.0 +core \^1\.0\.0$/m);
    assert.match(r.out, /^embedded model: .*peftkit-moby \(present\)$/m);
    const bad = await run(['doctor', '--backend', 'nope']);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /^tensor backend: none \(requested with --backend\) — PEFTKIT_E_BACKEND_UNKNOWN: /m);
  },
);
