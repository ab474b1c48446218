import { applyWeightUpdates, type MethodContext, PeftkitError, type WeightUpdate } from '@peftkit/core';
import { mergeBias, mergeSavedModule, unmergeBias, unmergeSavedModule } from './extras.ts';
import { doraWeightNorm } from './forward.ts';
import { tiedHead } from './inject.ts';
import type { EmbeddingLora, LinearLora, LoraHandle, Tensor, Tensor2D } from './types.ts';

/**
 * Folding an adapter into the base weights. Linear deltas go through the core's all-or-nothing `applyWeightUpdates`;
 * everything else (embedding deltas, trained biases, modules_to_save copies) is checked first and assigned only after
 * the linear merge succeeded, so a rejected safe merge changes nothing.
 */

/** s·B·A in [out, in]; for embeddings (s·B·A)ᵀ in [num_embeddings, dim]. */
export function loraDelta(ctx: MethodContext, layer: LinearLora | EmbeddingLora): Tensor2D {
  const { tf } = ctx;
  return tf.tidy(() => {
    const delta = tf.mul(tf.matMul(layer.b as Tensor2D, layer.a as Tensor2D), layer.scaling) as Tensor2D;
    return layer.kind === 'embedding' ? tf.transpose(delta) : delta;
  });
}

/** DoRA: W' = m/‖W+ΔW‖ · (W + ΔW); returns W' − W and the norm used (PEFT caches it to undo the merge). */
function doraMergeDelta(ctx: MethodContext, layer: LinearLora): { delta: Tensor2D; norm: Tensor } {
  const { tf } = ctx;
  return tf.tidy(() => {
    const weight = layer.site.base.weightOutIn();
    const norm = doraWeightNorm(tf, weight, layer);
    const factor = tf.reshape(tf.div(layer.magnitude as Tensor, norm), [-1, 1]);
    const merged = tf.mul(factor, tf.add(weight, loraDelta(ctx, layer)));
    return { delta: tf.sub(merged, weight) as Tensor2D, norm };
  });
}

function assertFinite(ctx: MethodContext, tensor: Tensor, what: string): void {
  const finite = ctx.tf.tidy(() => ctx.tf.all(ctx.tf.isFinite(tensor)).dataSync()[0] === 1);
  if (!finite)
    throw new PeftkitError(
      'PEFTKIT_E_MERGE_NONFINITE',
      `merging ${what} would produce NaN or Inf; nothing was merged`,
      { site: what },
    );
}

export function mergeLora(ctx: MethodContext, handle: LoraHandle, options: { safe: boolean }): void {
  if (handle.merged) return;
  for (const layer of handle.layers) {
    const head = layer.kind === 'embedding' ? tiedHead(ctx.model, layer.site) : undefined;
    if (head !== undefined) {
      // Folding ΔE into a shared matrix would change the output head too, so merged ≠ unmerged.
      throw new PeftkitError(
        'PEFTKIT_E_MERGE_UNSUPPORTED',
        `cannot merge LoRA on '${layer.site.name}': '${head.name}' shares its weight (tied embeddings)`,
        {
          site: layer.site.name,
          head: head.name,
        },
      );
    }
  }
  const { tf } = ctx;
  const updates: WeightUpdate[] = [];
  const embeddings: { layer: EmbeddingLora; weight: Tensor }[] = [];
  const norms = new Map<LinearLora, Tensor>();
  try {
    for (const layer of handle.layers) {
      if (layer.kind === 'embedding') {
        embeddings.push({ layer, weight: tf.tidy(() => tf.add(layer.site.weight, loraDelta(ctx, layer))) });
      } else if (layer.magnitude !== null) {
        const { delta, norm } = doraMergeDelta(ctx, layer);
        updates.push({ site: layer.site, delta });
        norms.set(layer, norm);
      } else {
        updates.push({ site: layer.site, delta: loraDelta(ctx, layer) });
      }
    }
    if (options.safe) {
      for (const e of embeddings) assertFinite(ctx, e.weight, `'${e.layer.site.name}'`);
      for (const b of handle.biases) assertFinite(ctx, b.bias, `the bias of '${b.site.name}'`);
      for (const m of handle.modules) {
        assertFinite(ctx, m.weight, `the saved module '${m.site.name}'`);
        if (m.bias) assertFinite(ctx, m.bias, `the saved module '${m.site.name}'`);
      }
    }
    applyWeightUpdates(tf, updates, options);
    // Nothing below can fail: the merge is committed.
    for (const e of embeddings) e.layer.site.weight.assign(e.weight);
    for (const [layer, norm] of norms) layer.mergedNorm = norm;
    norms.clear();
    for (const b of handle.biases) mergeBias(ctx, b);
    for (const m of handle.modules) mergeSavedModule(ctx, m);
    handle.merged = true;
  } finally {
    for (const u of updates) u.delta.dispose();
    for (const e of embeddings) e.weight.dispose();
    for (const norm of norms.values()) norm.dispose();
  }
}

/** W = W'/(m/‖·‖) − ΔW with the cached norm; the delta to subtract is W' − W. */
function doraUnmergeDelta(ctx: MethodContext, layer: LinearLora): Tensor2D {
  const { tf } = ctx;
  return tf.tidy(() => {
    const merged = layer.site.base.weightOutIn();
    const factor = tf.reshape(tf.div(layer.magnitude as Tensor, layer.mergedNorm as Tensor), [-1, 1]);
    const original = tf.sub(tf.div(merged, factor), loraDelta(ctx, layer));
    return tf.sub(merged, original) as Tensor2D;
  });
}

export function unmergeLora(ctx: MethodContext, handle: LoraHandle): void {
  if (!handle.merged) return;
  const { tf } = ctx;
  const updates: WeightUpdate[] = [];
  try {
    for (const layer of handle.layers) {
      if (layer.kind === 'embedding') {
        const site = layer.site;
        tf.tidy(() => site.weight.assign(tf.sub(site.weight, loraDelta(ctx, layer))));
      } else {
        updates.push({
          site: layer.site,
          delta: layer.mergedNorm !== null ? doraUnmergeDelta(ctx, layer) : loraDelta(ctx, layer),
        });
      }
    }
    applyWeightUpdates(tf, updates, { safe: false, sign: -1 });
  } finally {
    for (const u of updates) u.delta.dispose();
  }
  for (const layer of handle.layers) {
    if (layer.kind === 'linear' && layer.mergedNorm !== null) {
      layer.mergedNorm.dispose();
      layer.mergedNorm = null;
    }
  }
  for (const b of handle.biases) unmergeBias(b);
  for (const m of handle.modules) unmergeSavedModule(m);
  handle.merged = false;
}
