import {
  type EmbeddingSite,
  type LinearSite,
  type MethodContext,
  type ModelGraph,
  PeftkitError,
  type SiteHook,
} from '@peftkit/core';
import { joinBatcher, type LoraSiteBatcher, leaveBatcher } from './batch.ts';
import type { LoraConfig } from './config.ts';
import { biasSites, createBiasCopy, createSavedModule, effectiveModulesToSave, moduleSites } from './extras.ts';
import { biasForward, doraWeightNorm, embeddingForward, linearForward, moduleForward } from './forward.ts';
import { initEmbedding, initLinear } from './init.ts';
import { planTargets, type Target } from './targeting.ts';
import type { BiasCopy, LoraHandle, LoraLayer, SavedModule, Tensor3D, Variable } from './types.ts';

function variable(ctx: MethodContext, values: Float32Array, shape: number[]): Variable {
  const init = ctx.tf.tensor(values, shape, 'float32');
  const v = ctx.tf.variable(init, true);
  init.dispose();
  return v;
}

function createLayer(ctx: MethodContext, config: LoraConfig, target: Target): LoraLayer {
  const { r, alpha, scaling } = target;
  if (target.kind === 'embedding') {
    const { numEmbeddings, dim } = target.site;
    const init = initEmbedding(ctx.rng, config.init_lora_weights, r, numEmbeddings, dim);
    return {
      kind: 'embedding',
      site: target.site,
      r,
      alpha,
      scaling,
      a: variable(ctx, init.a, [r, numEmbeddings]),
      b: variable(ctx, init.b, [dim, r]),
    };
  }
  const { inFeatures, outFeatures } = target.site.base;
  const init = initLinear(ctx.rng, config.init_lora_weights, r, inFeatures, outFeatures);
  const layer = {
    kind: 'linear' as const,
    site: target.site,
    r,
    alpha,
    scaling,
    a: variable(ctx, init.a, [r, inFeatures]),
    b: variable(ctx, init.b, [outFeatures, r]),
    magnitude: null as Variable | null,
    mergedNorm: null,
  };
  if (config.use_dora) {
    // DoRA's magnitude starts as the row norms of W + ΔW, so the first forward equals plain LoRA's.
    const norm = ctx.tf.tidy(() => doraWeightNorm(ctx.tf, target.site.base.weightOutIn(), layer));
    layer.magnitude = ctx.tf.variable(norm, true);
    norm.dispose();
  }
  return layer;
}

/** The linear site (output head) sharing an embedding's weight variable, if the model ties them. */
export function tiedHead(model: ModelGraph, embedding: EmbeddingSite): LinearSite | undefined {
  for (const site of model.sites())
    if (site.kind === 'linear' && site.base.variables.includes(embedding.weight)) return site;
  return undefined;
}

/** PEFT warns and flips fan_in_fan_out when it disagrees with the layer (Conv1D stores [in, out]); so do we. */
function correctFanInFanOut(ctx: MethodContext, config: LoraConfig, targets: readonly Target[]): boolean {
  let fanInFanOut = config.fan_in_fan_out;
  for (const t of targets) {
    if (t.kind !== 'linear') continue;
    const expected = t.site.layout === 'in_out';
    if (expected === fanInFanOut) continue;
    ctx.log.warn(
      `lora: fan_in_fan_out is ${fanInFanOut} but '${t.site.name}' stores its weight ${t.site.layout}; ` +
        `setting fan_in_fan_out to ${expected}`,
    );
    fanInFanOut = expected;
  }
  return fanInFanOut;
}

/** One hook per site: modules_to_save replaces the output; otherwise LoRA and bias deltas are added. Merged: no-op. */
function siteHook(
  ctx: MethodContext,
  handle: LoraHandle,
  parts: { layer?: LoraLayer; bias?: BiasCopy; module?: SavedModule },
): SiteHook {
  const { tf } = ctx;
  const p = handle.config.lora_dropout;
  // Plain LoRA joins its site's batcher (one product for a mixed batch); DoRA, bias and saved modules run alone.
  const layer = parts.layer;
  const batcher: LoraSiteBatcher | undefined =
    layer?.kind === 'linear' && layer.magnitude === null && !parts.bias && !parts.module
      ? joinBatcher(tf, layer, ctx.adapterName)
      : undefined;
  return {
    // Dropout masks are drawn per adapter in the per-adapter path; a batched draw would differ, so it runs alone.
    batcher: (call) =>
      batcher === undefined || handle.merged || (p > 0 && call.training && call.rng !== null) ? undefined : batcher,
    apply(input, output, call): Tensor3D {
      if (handle.merged) return output;
      if (parts.module) return moduleForward(tf, parts.module, input as Tensor3D);
      let out = output;
      if (parts.layer?.kind === 'linear') {
        // Plain LoRA at inference: the batcher's fused kernel where it applies (all rows, this one adapter).
        const fused = batcher?.applyAll(parts.layer, input, out, call);
        out = fused ?? linearForward(tf, parts.layer, input as Tensor3D, out, p, call);
      }
      if (parts.layer?.kind === 'embedding') out = embeddingForward(tf, parts.layer, input, out);
      if (parts.bias) out = biasForward(tf, parts.bias, out);
      return out;
    },
  };
}

export function disposeHandle(ctx: MethodContext, handle: LoraHandle): void {
  for (const site of handle.hooked) site.hooks.detach(ctx.adapterName);
  for (const layer of handle.layers) if (layer.kind === 'linear') leaveBatcher(layer, ctx.adapterName);
  for (const v of handle.trainableVariables) v.dispose();
  for (const layer of handle.layers) if (layer.kind === 'linear') layer.mergedNorm?.dispose();
  for (const b of handle.biases) b.original?.dispose();
  for (const m of handle.modules) {
    m.original?.weight.dispose();
    m.original?.bias?.dispose();
  }
  handle.hooked.length = 0;
  handle.trainableVariables.length = 0;
}

/** Creates the adapter's variables and attaches its hooks; on any failure nothing stays attached or allocated. */
export function injectLora(ctx: MethodContext, config: LoraConfig): LoraHandle {
  const modulesToSave = effectiveModulesToSave(ctx.model, config);
  const saved = moduleSites(ctx, modulesToSave);
  const savedNames = new Set(saved.map((s) => s.name));
  const plan = planTargets(ctx.model, config, savedNames);
  if (config.use_dora && plan.targets.some((t) => t.kind === 'embedding')) {
    throw new PeftkitError(
      'PEFTKIT_E_CONFIG_INVALID',
      'use_dora is supported for linear targets only, not embeddings',
      {},
    );
  }
  for (const t of plan.targets) {
    if (t.kind === 'embedding' && tiedHead(ctx.model, t.site) !== undefined) {
      ctx.log.warn(
        `lora: '${t.site.name}' is tied to the output head; the adapter works unmerged, but cannot be merged`,
      );
    }
  }
  const handle: LoraHandle = {
    layers: [],
    biases: [],
    modules: [],
    config: {
      ...config,
      target_modules: plan.targetModules,
      fan_in_fan_out: correctFanInFanOut(ctx, config, plan.targets),
      modules_to_save: modulesToSave,
    },
    trainableVariables: [],
    hooked: [],
    merged: false,
  };
  try {
    for (const target of plan.targets) {
      const layer = createLayer(ctx, config, target);
      handle.layers.push(layer);
      handle.trainableVariables.push(layer.a, layer.b);
      if (layer.kind === 'linear' && layer.magnitude !== null) handle.trainableVariables.push(layer.magnitude);
    }
    const adapted = handle.layers.flatMap((l) => (l.kind === 'linear' ? [l.site] : []));
    for (const site of biasSites(ctx.model, config, adapted, savedNames)) {
      const copy = createBiasCopy(ctx, site);
      if (copy === null) continue;
      handle.biases.push(copy);
      handle.trainableVariables.push(copy.bias);
    }
    for (const site of saved) {
      const module = createSavedModule(ctx, site);
      handle.modules.push(module);
      handle.trainableVariables.push(module.weight, ...(module.bias ? [module.bias] : []));
    }
    attachHooks(ctx, handle);
  } catch (error) {
    disposeHandle(ctx, handle);
    throw error;
  }
  return handle;
}

function attachHooks(ctx: MethodContext, handle: LoraHandle): void {
  const parts = new Map<LinearSite | EmbeddingSite, { layer?: LoraLayer; bias?: BiasCopy; module?: SavedModule }>();
  const part = (site: LinearSite | EmbeddingSite) => parts.get(site) ?? parts.set(site, {}).get(site)!;
  for (const layer of handle.layers) part(layer.site).layer = layer;
  for (const bias of handle.biases) part(bias.site).bias = bias;
  for (const module of handle.modules) part(module.site).module = module;
  for (const [site, p] of parts) {
    site.hooks.attach(ctx.adapterName, siteHook(ctx, handle, p));
    handle.hooked.push(site);
  }
}
