import assert from 'node:assert/strict';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { AdapterManager, Kernel, MethodPlugin, ModelGraph, ModelTask } from '@peftkit/core';
import { disposeSaved, Rng } from '@peftkit/core';
import type { LlamaModel } from '@peftkit/models';
import { logits, maxAbsDiff, perturb } from './conformance-checks.ts';
import { createTinyLlama, tinyBatch } from './tiny-model.ts';

/**
 * Conformance checks callable on their own (the kit registers them as tests too): each throws an AssertionError
 * naming the plugin and what is wrong, so a plugin author (and the kit's own tests) can run one directly.
 */

// biome-ignore lint/suspicious/noExplicitAny: the kit accepts any plugin's config and handle types
type AnyPlugin = MethodPlugin<any, any>;

export interface CheckOptions {
  task?: ModelTask;
  /** Runs on the fresh model before the check (QLoRA quantizes the base here). */
  prepareModel?: (tf: Kernel['tf'], model: LlamaModel) => void;
  seed?: number;
}

const fail = (plugin: AnyPlugin, what: string): never =>
  assert.fail(`conformance: plugin '${plugin.meta.name}': ${what}`);

/** A fresh tiny model with its manager; the plugin is registered on the kernel when it is not yet. */
function setup(
  kernel: Kernel,
  plugin: AnyPlugin,
  options: CheckOptions,
): { model: LlamaModel; manager: AdapterManager } {
  if (!kernel.registry.has(plugin.meta.name)) kernel.use(plugin);
  const model = createTinyLlama(kernel.tf, {
    seed: options.seed ?? 1234,
    task: options.task ?? 'causal-lm',
    labels: ['no', 'yes', 'maybe'],
  });
  options.prepareModel?.(kernel.tf, model);
  return { model, manager: kernel.adapters(model) };
}

/** Cleanup that never hides the check's own failure (a broken plugin may also fail to dispose). */
function teardown(manager: AdapterManager, model: ModelGraph): void {
  try {
    manager.dispose();
  } catch {}
  model.dispose();
}

const describe = (v: Tensor, i: number) => `trainableVariables[${i}] (shape [${v.shape.join(', ')}])`;

/**
 * save must return tensors the caller owns: not the adapter's live variables. Assigning the adapter's variables
 * must not change what was saved, and disposing what was saved must leave the adapter working.
 */
export function checkSaveAliasing(
  kernel: Kernel,
  plugin: AnyPlugin,
  config: Record<string, unknown>,
  options: CheckOptions = {},
): void {
  const { model, manager } = setup(kernel, plugin, options);
  const ids = tinyBatch(3, 6);
  try {
    const record = manager.create('a', plugin.meta.name, config);
    const variables = record.handle.trainableVariables as readonly Variable[];
    perturb(kernel.tf, variables, 31);
    const saved = manager.save('a');
    const live = new Set<Tensor>([...variables, ...(record.handle.frozenTensors ?? [])]);
    for (const [key, t] of Object.entries(saved.tensors)) {
      if (live.has(t))
        fail(
          plugin,
          `save() returned the adapter's live tensor as '${key}' (return a copy, e.g. tf.clone, that the caller owns)`,
        );
    }
    const before = new Map(Object.entries(saved.tensors).map(([k, t]) => [k, (t.dataSync() as Float32Array).slice()]));
    perturb(kernel.tf, variables, 32);
    for (const [key, t] of Object.entries(saved.tensors)) {
      if (maxAbsDiff([before.get(key) as Float32Array], [t.dataSync() as Float32Array]) !== 0) {
        fail(
          plugin,
          `saved tensor '${key}' changed when the adapter's variables were assigned: save() aliases live adapter state`,
        );
      }
    }
    const expected = logits(model, ids, { active: ['a'] });
    disposeSaved(saved);
    let after: Float32Array[];
    try {
      after = logits(model, ids, { active: ['a'] });
    } catch (error) {
      throw fail(
        plugin,
        `the adapter stopped working once the tensors save() returned were disposed: ${(error as Error).message}`,
      );
    }
    if (maxAbsDiff(expected, after) > 1e-6)
      fail(plugin, 'disposing the tensors save() returned changed the adapter’s outputs');
  } finally {
    teardown(manager, model);
  }
}

/** Every hook table a model exposes: each site's (linear, embedding, block, norm, … any kind) plus model-level ones. */
export function hookTables(model: ModelGraph): { where: string; table: { has(name: string): boolean } }[] {
  const isTable = (v: unknown): v is { has(name: string): boolean; adapters(): string[] } =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { has?: unknown }).has === 'function' &&
    typeof (v as { adapters?: unknown }).adapters === 'function';
  const tables: { where: string; table: { has(name: string): boolean } }[] = [];
  for (const site of model.sites()) {
    for (const [key, value] of Object.entries(site))
      if (isTable(value)) tables.push({ where: `${site.kind} site '${site.name}' (${key})`, table: value });
  }
  const seen = new Set(tables.map((t) => t.table));
  const modelTables: [string, unknown][] = [
    ['prompts', model.prompts],
    ['prefixes', model.prefixes],
    ...Object.entries(model),
  ];
  for (const [key, value] of modelTables) {
    if (isTable(value) && !seen.has(value)) {
      seen.add(value);
      tables.push({ where: `model ${key}`, table: value });
    }
  }
  return tables;
}

/** After delete no hook of the adapter remains anywhere on the model, and its name can be used again. */
export function checkDeleteCleanup(
  kernel: Kernel,
  plugin: AnyPlugin,
  config: Record<string, unknown>,
  options: CheckOptions = {},
): void {
  const { model, manager } = setup(kernel, plugin, options);
  try {
    for (const round of [1, 2]) {
      manager.create('a', plugin.meta.name, config, { seed: round });
      manager.delete('a');
      const left = hookTables(model).filter((t) => t.table.has('a'));
      if (left.length > 0) {
        fail(
          plugin,
          `after delete, adapter 'a' still has hooks on ${left.length} place(s), first on ${left
            .map((t) => t.where)
            .slice(0, 3)
            .join(', ')}`,
        );
      }
    }
  } finally {
    teardown(manager, model);
  }
}

/**
 * On a tiny batch every trainable variable of a (perturbed, so that no gradient is zero by design, e.g. LoRA's A
 * while B = 0) adapter gets a finite, non-zero gradient of a loss on the adapted outputs.
 */
export function checkGradientFlow(
  kernel: Kernel,
  plugin: AnyPlugin,
  config: Record<string, unknown>,
  options: CheckOptions = {},
): void {
  const { tf } = kernel;
  const { model, manager } = setup(kernel, plugin, options);
  const ids = tinyBatch(2, 5);
  try {
    const variables = manager.create('a', plugin.meta.name, config).handle.trainableVariables as readonly Variable[];
    if (variables.length === 0) fail(plugin, 'the adapter has no trainable variables');
    variables.forEach((v, i) => {
      if (!v.trainable)
        fail(
          plugin,
          `${describe(v, i)} is not marked trainable (tf.variable(value, true)): the optimizer would skip it`,
        );
    });
    perturb(tf, variables, 41);
    const selection = { active: ['a'] };
    // A fixed random linear read-out of the outputs: every path from a variable to the outputs carries gradient.
    const outputs = () =>
      model.task === 'seq-cls' ? model.classify({ ids }, { selection }) : model.forward({ ids }, { selection });
    const probe = outputs();
    const readout = tf.tensor(new Rng(43).normalArray(probe.size, 0, 1), probe.shape, 'float32');
    probe.dispose();
    let grads: Record<string, Tensor>;
    try {
      const result = tf.variableGrads(() => tf.sum(tf.mul(outputs(), readout)), variables as Variable[]);
      result.value.dispose();
      grads = result.grads;
    } catch (error) {
      readout.dispose();
      throw fail(plugin, `no gradient reaches the adapter's variables: ${(error as Error).message}`);
    }
    readout.dispose();
    try {
      variables.forEach((v, i) => {
        const g = grads[v.name];
        if (g === undefined)
          fail(
            plugin,
            `${describe(v, i)} gets no gradient: its hooks cut it off the graph (e.g. values read with dataSync)`,
          );
        const values = (g as Tensor).dataSync() as Float32Array;
        if (values.some((x) => !Number.isFinite(x))) fail(plugin, `${describe(v, i)} gets a non-finite gradient`);
        if (values.every((x) => x === 0))
          fail(
            plugin,
            `${describe(v, i)} gets an all-zero gradient (e.g. tf.stopGradient or a detached copy in a hook)`,
          );
      });
    } finally {
      for (const g of Object.values(grads)) g.dispose();
    }
  } finally {
    teardown(manager, model);
  }
}
