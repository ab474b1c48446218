import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError } from '@peftkit/io';
import type { Kernel } from '@peftkit/core';
import { createTestKernel as createKernel } from './kernel.ts';
import type { ModelTask } from '@peftkit/core';
import type { LlamaModel } from '@peftkit/models';
import type { MethodPlugin } from '@peftkit/core';
import { parseConfig } from '@peftkit/core';
import {
  fill,
  logits,
  maxAbsDiff,
  maxParameterDiff,
  perturb,
  roundTrip,
  snapshotParameters,
} from './conformance-checks.ts';
import { createTinyLlama, tinyBatch } from './tiny-model.ts';
import { type CheckOptions, checkDeleteCleanup, checkGradientFlow, checkSaveAliasing } from './conformance-extra.ts';

export interface ConformanceOptions {
  /** The plugin under test. */
  // biome-ignore lint/suspicious/noExplicitAny: the kit accepts any plugin's config and handle types
  plugin: MethodPlugin<any, any>;
  /** A config as a user would write it (raw JSON); a second one for the two-adapter check (defaults to the first). */
  config: Record<string, unknown>;
  secondConfig?: Record<string, unknown>;
  /** Plugins this one depends on, registered first. */
  // biome-ignore lint/suspicious/noExplicitAny: see above
  dependencies?: readonly MethodPlugin<any, any>[];
  /** Tensor backend (default: PEFTKIT_BACKEND or the best available). */
  backend?: string;
  task?: ModelTask;
  /** Name prefix of the generated tests. */
  name?: string;
  /**
   * Runs on every fresh model before any check, e.g. QLoRA quantizes the base here so that identity, merge and
   * leak checks compare against the model its adapters actually run on.
   */
  prepareModel?: (tf: Kernel['tf'], model: LlamaModel) => void;
  /**
   * The plugin allows one adapter per model (full fine-tuning trains the base itself): the two-adapter check then
   * asserts that a second adapter is refused with a coded error instead.
   */
  exclusive?: boolean;
}

/**
 * Registers the conformance tests every method plugin must pass (node:test, so the same file runs under Node,
 * Deno and Bun): strict config, identity at init, merge ≈ unmerged, unmerge restores, idempotent and safe merge,
 * save → load, coexisting adapters, mixed batches, leak-free dispose, save not aliasing live variables, delete
 * leaving no hook behind, and gradients reaching every trainable variable.
 */
export function conformanceSuite(options: ConformanceOptions): void {
  const { plugin, config } = options;
  const second = options.secondConfig ?? config;
  const title = options.name ?? `conformance: ${plugin.meta.name}`;
  const caps = plugin.capabilities;
  const ids = tinyBatch(3, 6);
  let kernelPromise: Promise<Kernel> | undefined;
  const kernel = () => {
    kernelPromise ??= (async () => {
      const k = await createKernel({
        ...(options.backend ? { backend: options.backend } : {}),
        logger: { warn() {}, info() {} },
      });
      for (const dep of options.dependencies ?? []) k.use(dep);
      k.use(plugin);
      return k;
    })();
    return kernelPromise;
  };
  const fresh = async (seed = 1234) => {
    const k = await kernel();
    const model = createTinyLlama(k.tf, { seed, task: options.task ?? 'causal-lm', labels: ['no', 'yes', 'maybe'] });
    options.prepareModel?.(k.tf, model);
    return { k, tf: k.tf, model, manager: k.adapters(model) };
  };

  test(`${title}: config is strict (unknown keys rejected)`, () => {
    assert.throws(
      () => parseConfig(plugin, { ...config, __not_a_field__: 1 }),
      (e) => isPeftkitError(e, 'PEFTKIT_E_CONFIG_INVALID'),
    );
    parseConfig(plugin, config);
  });

  test(`${title}: identity at init`, {
    skip: !caps.identityAtInit && 'plugin does not declare identityAtInit',
  }, async () => {
    const { model, manager } = await fresh();
    const base = logits(model, ids);
    manager.create('a', plugin.meta.name, config);
    assert.ok(maxAbsDiff(base, logits(model, ids, { active: ['a'] })) <= 1e-6);
    manager.dispose();
    model.dispose();
  });

  if (caps.merge === 'never') {
    test(`${title}: merge is refused with a coded error (merge: never)`, async () => {
      const { tf, model, manager } = await fresh();
      perturb(tf, manager.create('a', plugin.meta.name, config).handle.trainableVariables, 7);
      assert.throws(
        () => manager.merge('a'),
        (e) => isPeftkitError(e, 'PEFTKIT_E_MERGE_UNSUPPORTED'),
      );
      manager.dispose();
      model.dispose();
    });
  }

  // Skips go through the option, never t.skip(): Deno reports t.skip() as passed, the option as ignored.
  test(`${title}: merge, unmerge, idempotence, safe merge`, {
    skip: caps.merge === 'never' && 'plugin declares merge: never',
  }, async () => {
    const { tf, model, manager } = await fresh();
    const record = manager.create('a', plugin.meta.name, config);
    perturb(tf, record.handle.trainableVariables, 7);
    const tolerance = caps.mergeTolerance ?? 1e-5;
    const baseWeights = snapshotParameters(model);
    const unmerged = logits(model, ids, { active: ['a'] });
    const baseLogits = logits(model, ids);
    assert.ok(maxAbsDiff(unmerged, baseLogits) > 0, 'perturbed adapter must change the output');
    manager.merge('a');
    assert.ok(maxAbsDiff(unmerged, logits(model, ids)) <= tolerance, 'merged (no selection) ≈ unmerged');
    if (caps.merge === 'dequantize') {
      // A lossy merge needs a loose tolerance; it must still land closer to the adapted output than the base is.
      assert.ok(
        maxAbsDiff(unmerged, logits(model, ids)) < maxAbsDiff(unmerged, baseLogits),
        'a dequantize merge moves the output towards the adapter',
      );
    }
    assert.ok(
      maxAbsDiff(unmerged, logits(model, ids, { active: ['a'] })) <= tolerance,
      'a merged adapter is not applied twice',
    );
    const once = snapshotParameters(model);
    plugin.merge?.(record.ctx, record.handle, { safe: false });
    assert.ok(maxParameterDiff(model, once) === 0, 'merging twice equals merging once');
    manager.unmerge('a');
    assert.ok(
      maxParameterDiff(model, baseWeights) <= (caps.merge === 'exact' ? 1e-6 : tolerance),
      'unmerge restores the base weights',
    );
    plugin.unmerge?.(record.ctx, record.handle);
    assert.ok(
      maxParameterDiff(model, baseWeights) <= (caps.merge === 'exact' ? 1e-6 : tolerance),
      'unmerging twice equals unmerging once',
    );

    for (const v of record.handle.trainableVariables) fill(tf, v, Number.NaN);
    assert.throws(
      () => manager.merge('a', { safe: true }),
      (e) => isPeftkitError(e, 'PEFTKIT_E_MERGE_NONFINITE'),
    );
    assert.ok(maxParameterDiff(model, baseWeights) <= 1e-6, 'a rejected safe merge leaves the base untouched');
    assert.equal(manager.get('a').merged, false);
    manager.dispose();
    model.dispose();
  });

  test(`${title}: save → load gives identical outputs`, async () => {
    const a = await fresh();
    const record = a.manager.create('a', plugin.meta.name, config);
    perturb(a.tf, record.handle.trainableVariables, 11);
    const expected = logits(a.model, ids, { active: ['a'] });
    const b = await fresh();
    roundTrip(a.tf, a.manager, 'a', b.manager, 'restored');
    assert.ok(maxAbsDiff(expected, logits(b.model, ids, { active: ['restored'] })) <= 1e-6);
    a.manager.dispose();
    b.manager.dispose();
    a.model.dispose();
    b.model.dispose();
  });

  if (options.exclusive) {
    test(`${title}: an exclusive plugin refuses a second adapter`, async () => {
      const { model, manager } = await fresh();
      manager.create('a', plugin.meta.name, config, { seed: 1 });
      assert.throws(
        () => manager.create('b', plugin.meta.name, second, { seed: 2 }),
        (e) => isPeftkitError(e),
        'an exclusive plugin refuses a second adapter',
      );
      assert.equal(manager.has('b'), false, 'the refused adapter is not registered');
      manager.dispose();
      model.dispose();
    });
  }

  test(`${title}: two adapters coexist; mixed batch equals per-row calls`, {
    skip: options.exclusive === true && 'plugin is exclusive (one adapter per model)',
  }, async () => {
    const { tf, model, manager } = await fresh();
    perturb(tf, manager.create('a', plugin.meta.name, config, { seed: 1 }).handle.trainableVariables, 21);
    perturb(tf, manager.create('b', plugin.meta.name, second, { seed: 2 }).handle.trainableVariables, 22);
    const base = logits(model, ids);
    const la = logits(model, ids, { active: ['a'] });
    const lb = logits(model, ids, { active: ['b'] });
    assert.ok(maxAbsDiff(la, lb) > 1e-4, 'different adapters give different outputs');
    assert.ok(maxAbsDiff(la, base) > 1e-4 && maxAbsDiff(lb, base) > 1e-4);
    if (caps.mixedBatch) {
      const mixed = logits(model, ids, { perRow: ['a', null, 'b'] });
      assert.ok(maxAbsDiff([mixed[0] as Float32Array], [la[0] as Float32Array]) <= 1e-5, 'row 0 uses adapter a');
      assert.ok(maxAbsDiff([mixed[1] as Float32Array], [base[1] as Float32Array]) <= 1e-5, 'row 1 uses the base');
      assert.ok(maxAbsDiff([mixed[2] as Float32Array], [lb[2] as Float32Array]) <= 1e-5, 'row 2 uses adapter b');
    }
    manager.delete('b');
    assert.ok(maxAbsDiff(la, logits(model, ids, { active: ['a'] })) <= 1e-6, 'deleting b leaves a intact');
    manager.dispose();
    model.dispose();
  });

  const checkOptions: CheckOptions = {
    ...(options.task ? { task: options.task } : {}),
    ...(options.prepareModel ? { prepareModel: options.prepareModel } : {}),
  };
  test(`${title}: save returns copies, not the adapter's live variables`, async () => {
    checkSaveAliasing(await kernel(), plugin, config, checkOptions);
  });

  test(`${title}: delete leaves no hook on any site`, async () => {
    checkDeleteCleanup(await kernel(), plugin, config, checkOptions);
  });

  test(`${title}: every trainable variable gets a finite, non-zero gradient`, async () => {
    checkGradientFlow(await kernel(), plugin, config, checkOptions);
  });

  test(`${title}: dispose leaves tf.memory().numTensors unchanged`, async () => {
    const { tf, model, manager } = await fresh();
    logits(model, ids);
    const before = tf.memory().numTensors;
    const record = manager.create('a', plugin.meta.name, config);
    perturb(tf, record.handle.trainableVariables, 5);
    logits(model, ids, { active: ['a'] });
    if (caps.merge !== 'never') {
      manager.merge('a', { safe: true });
      logits(model, ids);
      manager.unmerge('a');
    }
    const other = await fresh();
    roundTrip(tf, manager, 'a', other.manager, 'copy');
    other.manager.dispose();
    other.model.dispose();
    manager.delete('a');
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
  });
}
