import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AdapterManager,
  isPeftkitError,
  PLUGIN_API_VERSION,
  PluginRegistry,
  z,
  type MethodPlugin,
} from '@peftkit/core';
import { createKernel } from 'peftkit';
import { createTinyLlama } from '@peftkit/testing';

/** A minimal valid plugin object; tests break one property at a time. */
function samplePlugin(
  overrides: Record<string, unknown> = {},
  meta: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    meta: { name: 'sample', version: '1.2.3', core: '^1.0.0', family: 'additive', ...meta },
    configSchema: z.strictObject({ size: z.number().int().positive().default(4) }),
    capabilities: { merge: 'never', identityAtInit: true, mixedBatch: true },
    inject: () => ({ trainableVariables: [] }),
    save: () => ({ config: {}, tensors: {} }),
    load: () => ({ handle: { trainableVariables: [] }, config: { size: 4 } }),
    dispose: () => {},
    ...overrides,
  };
}

const code = (expected: string) => (error: unknown) => {
  assert.ok(isPeftkitError(error, expected), `expected ${expected}, got ${String(error)}`);
  return true;
};

test('a valid plugin registers and is listed', () => {
  const registry = new PluginRegistry();
  registry.register(samplePlugin());
  assert.deepEqual(
    registry.list().map((p) => p.meta.name),
    ['sample'],
  );
});

test('malformed plugins are refused with PEFTKIT_E_PLUGIN_INVALID', () => {
  const registry = new PluginRegistry();
  for (const bad of [
    null,
    42,
    {},
    samplePlugin({ inject: 'not a function' }),
    samplePlugin({}, { name: 'Bad Name' }),
    samplePlugin({}, { version: 'one' }),
    samplePlugin({}, { family: 'magic' }),
    samplePlugin({ configSchema: {} }),
    samplePlugin({ configSchema: z.object({ size: z.number().default(1) }) }), // not strict
    samplePlugin({ capabilities: { merge: 'exact', identityAtInit: true, mixedBatch: true } }), // no merge hooks
    samplePlugin({ merge: () => {}, unmerge: () => {} }), // merge hooks with merge: never
  ]) {
    assert.throws(() => registry.register(bad), code('PEFTKIT_E_PLUGIN_INVALID'));
  }
  assert.equal(registry.list().length, 0);
});

test('a duplicate name is refused with PEFTKIT_E_PLUGIN_DUPLICATE and the first stays', () => {
  const registry = new PluginRegistry();
  const first = registry.register(samplePlugin());
  assert.throws(() => registry.register(samplePlugin({}, { version: '2.0.0' })), code('PEFTKIT_E_PLUGIN_DUPLICATE'));
  assert.equal(registry.get('sample'), first);
});

test('an incompatible plugin-API range is refused with PEFTKIT_E_PLUGIN_VERSION', () => {
  const registry = new PluginRegistry();
  assert.equal(PLUGIN_API_VERSION, '1.0.0');
  assert.throws(
    () => registry.register(samplePlugin({}, { core: '^2.0.0' })),
    (e) => {
      assert.ok(isPeftkitError(e, 'PEFTKIT_E_PLUGIN_VERSION'));
      assert.match(e.message, /expects plugin API '\^2\.0\.0', but this core provides '1\.0\.0'/);
      return true;
    },
  );
  assert.throws(() => registry.register(samplePlugin({}, { core: 'not a range' })), code('PEFTKIT_E_PLUGIN_INVALID'));
});

test('missing or mismatched dependencies are refused with PEFTKIT_E_PLUGIN_DEPENDENCY', () => {
  const registry = new PluginRegistry();
  assert.throws(
    () => registry.register(samplePlugin({}, { name: 'child', dependencies: { sample: '^1.0.0' } })),
    code('PEFTKIT_E_PLUGIN_DEPENDENCY'),
  );
  registry.register(samplePlugin());
  assert.throws(
    () => registry.register(samplePlugin({}, { name: 'child', dependencies: { sample: '^2.0.0' } })),
    code('PEFTKIT_E_PLUGIN_DEPENDENCY'),
  );
  registry.register(samplePlugin({}, { name: 'child', dependencies: { sample: '^1.0.0' } }));
  assert.ok(registry.has('child'));
});

test('unknown plugin names and frozen registries give coded errors', () => {
  const registry = new PluginRegistry();
  assert.throws(() => registry.get('nope'), code('PEFTKIT_E_PLUGIN_UNKNOWN'));
  registry.freeze();
  assert.throws(() => registry.register(samplePlugin()), code('PEFTKIT_E_REGISTRY_FROZEN'));
});

test(
  'configs with unknown keys or wrong types are refused with PEFTKIT_E_CONFIG_INVALID; ' + 'nothing is injected',
  async () => {
    const kernel = await createKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
    let injected = 0;
    kernel.use(
      samplePlugin({
        inject: () => {
          injected += 1;
          return { trainableVariables: [] };
        },
      }),
    );
    const model = createTinyLlama(kernel.tf);
    const adapters = kernel.adapters(model);
    assert.throws(
      () => adapters.create('a', 'sample', { size: 4, colour: 'red' }),
      (e) => {
        assert.ok(isPeftkitError(e, 'PEFTKIT_E_CONFIG_INVALID'));
        assert.match(e.message, /unknown key\(s\) 'colour'/);
        return true;
      },
    );
    assert.throws(() => adapters.create('a', 'sample', { size: -1 }), code('PEFTKIT_E_CONFIG_INVALID'));
    assert.equal(injected, 0);
    adapters.create('a', 'sample', {});
    assert.equal(injected, 1);
    model.dispose();
  },
);

test('errors thrown inside hooks are re-thrown tagged with plugin, hook and adapter', async () => {
  const kernel = await createKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
  kernel.use(
    samplePlugin({
      inject: () => {
        throw new TypeError('boom');
      },
    }),
  );
  const model = createTinyLlama(kernel.tf);
  assert.throws(
    () => kernel.adapters(model).create('task-1', 'sample', {}),
    (e) => {
      assert.ok(isPeftkitError(e, 'PEFTKIT_E_PLUGIN_HOOK'));
      assert.deepEqual({ ...e.details }, { plugin: 'sample', hook: 'inject', adapter: 'task-1' });
      assert.match(e.message, /sample\.inject \(adapter 'task-1'\) failed: boom/);
      assert.ok(e.cause instanceof TypeError);
      return true;
    },
  );
  assert.equal(kernel.adapters(model).has('task-1'), false);
  model.dispose();
});

test('adapter names are validated and unique', async () => {
  const kernel = await createKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
  kernel.use(samplePlugin());
  const model = createTinyLlama(kernel.tf);
  const adapters: AdapterManager = kernel.adapters(model);
  for (const bad of ['', '../x', '/abs', 'a b', '__base__', '%2e%2e', 'x'.repeat(129)]) {
    assert.throws(() => adapters.create(bad, 'sample'), code('PEFTKIT_E_ADAPTER_NAME'));
  }
  adapters.create('ok-1.v2', 'sample');
  assert.throws(() => adapters.create('ok-1.v2', 'sample'), code('PEFTKIT_E_ADAPTER_EXISTS'));
  assert.throws(() => adapters.get('missing'), code('PEFTKIT_E_ADAPTER_UNKNOWN'));
  assert.throws(() => adapters.merge('ok-1.v2'), code('PEFTKIT_E_MERGE_UNSUPPORTED'));
  model.dispose();
});

test('a plugin object typed with definePlugin satisfies MethodPlugin', () => {
  const plugin = samplePlugin() as unknown as MethodPlugin;
  assert.equal(typeof plugin.inject, 'function');
});
