import assert, { AssertionError } from 'node:assert/strict';
import { test } from 'node:test';
import type { Kernel, MethodPlugin } from '@peftkit/core';
import { checkDeleteCleanup, checkGradientFlow, checkSaveAliasing, createTestKernel } from '@peftkit/testing';
import { leakyDispose, saveAliasing, stopsGradient } from './fixtures/broken-plugins/index.ts';
import ia3 from './fixtures/ia3-plugin/index.ts';

// The kit's newer checks, called directly: each catches the plugin broken on its rule with a message naming the
// plugin and the fault, and lets the healthy (IA)³ fixture and the other broken plugins through.

const kernel = await createTestKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
const config = { target_modules: ['k_proj', 'v_proj', 'down_proj'], feedforward_modules: ['down_proj'] };
// biome-ignore lint/suspicious/noExplicitAny: plugins of any config/handle type
type Check = (kernel: Kernel, plugin: MethodPlugin<any, any>, config: Record<string, unknown>) => void;

const checks: Record<string, Check> = { checkSaveAliasing, checkDeleteCleanup, checkGradientFlow };
const cases: { plugin: MethodPlugin<unknown, never>; check: string; message: RegExp }[] = [
  {
    plugin: saveAliasing as never,
    check: 'checkSaveAliasing',
    message: /plugin 'broken-save-alias': save\(\) returned the adapter's live tensor/,
  },
  {
    plugin: leakyDispose as never,
    check: 'checkDeleteCleanup',
    message: new RegExp(
      "plugin 'broken-leaky-dispose': after delete, adapter 'a' still has hooks on 1 place\\(s\\), " +
        "first on linear site 'model\\.layers\\.0\\.self_attn\\.k_proj'",
    ),
  },
  {
    plugin: stopsGradient as never,
    check: 'checkGradientFlow',
    message: /plugin 'broken-stop-gradient': .*(gets no gradient|no gradient reaches)/,
  },
];

for (const { plugin, check, message } of cases) {
  test(`${check} fails on ${plugin.meta.name} with a clear message`, () => {
    assert.throws(
      () => (checks[check] as Check)(kernel, plugin, config),
      (e) => {
        assert.ok(e instanceof AssertionError, `expected an AssertionError, got ${String(e)}`);
        assert.match(e.message, message);
        return true;
      },
    );
  });

  test(`${plugin.meta.name} passes the checks of the rules it keeps`, () => {
    for (const [name, other] of Object.entries(checks)) if (name !== check) other(kernel, plugin, config);
  });
}

test('the healthy (IA)³ fixture passes all three checks', () => {
  for (const check of Object.values(checks)) check(kernel, ia3, config);
});

test('the fix the save-aliasing message asks for (copies via tf.clone) passes the check', () => {
  const copying: typeof saveAliasing = {
    ...saveAliasing,
    meta: { ...saveAliasing.meta, name: 'copying-save' },
    save(ctx, handle, cfg) {
      const saved = saveAliasing.save(ctx, handle, cfg);
      return {
        ...saved,
        tensors: Object.fromEntries(Object.entries(saved.tensors).map(([k, t]) => [k, ctx.tf.clone(t)])),
      };
    },
  };
  checkSaveAliasing(kernel, copying, config);
});
