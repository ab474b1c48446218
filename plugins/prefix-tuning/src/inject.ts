import type { ForwardCall, MethodContext, PrefixHook } from '@peftkit/core';
import type { PrefixTuningConfig } from './config.ts';
import { createEncoder, encoderVariables, prefixDropout, prefixTable } from './encoder.ts';
import type { PrefixGeometry } from './geometry.ts';
import { resolveGeometry } from './geometry.ts';
import { createHeadCopy, effectiveModulesToSave, headHook, headSites, isSeqCls } from './heads.ts';
import type { ExtraFields, PrefixHandle, Tensor, Tensor2D, Tensor3D } from './types.ts';

export interface InjectOptions {
  readonly method: { readonly name: string; readonly version: string };
  readonly extra: ExtraFields;
  readonly dropout: number;
  /**
   * Build the MLP (default: config.prefix_projection). Loading a PEFT file builds a flat table even when it says true.
   */
  readonly projection?: boolean;
  readonly code: 'PEFTKIT_E_CONFIG_INVALID' | 'PEFTKIT_E_ADAPTER_CONFIG';
}

/**
 * The prefix hook: one [T, width] table per forward call (the MLP runs once per call, not once per layer; dropout
 * draws one mask per call), cut into each layer's key and value following PEFT's layout (see geometry.ts).
 */
function prefixHook(ctx: MethodContext, handle: PrefixHandle): PrefixHook {
  const { tf } = ctx;
  const g: PrefixGeometry = handle.geometry;
  const tables = new WeakMap<ForwardCall, Tensor2D>();
  const tableFor = (call: ForwardCall): Tensor2D => {
    const cached = tables.get(call);
    if (cached !== undefined && !cached.isDisposed) return cached;
    const table = prefixDropout(tf, prefixTable(tf, handle.encoder), handle.dropout, call);
    tables.set(call, table);
    return table;
  };
  return {
    numVirtualTokens: g.numVirtualTokens,
    prefix(layer, call) {
      const T = g.numVirtualTokens;
      const grid = tf.reshape(tableFor(call), [T, g.numLayers * 2, g.numKvHeads, g.headDim]);
      const part = (p: 0 | 1): Tensor3D =>
        tf.reshape(tf.slice(grid, [0, layer * 2 + p, 0, 0], [T, 1, g.numKvHeads, g.headDim]), [
          T,
          g.numKvHeads,
          g.headDim,
        ]) as Tensor3D;
      return { key: part(0), value: part(1) };
    },
  };
}

export function disposeHandle(ctx: MethodContext, handle: PrefixHandle): void {
  for (const table of handle.hooked) table.detach(ctx.adapterName);
  for (const v of handle.trainableVariables) v.dispose();
  handle.hooked.length = 0;
  handle.trainableVariables.length = 0;
}

/**
 * Creates the prefix (and head copies for seq-cls) and attaches the hooks; on
 * failure nothing stays attached or allocated.
 */
export function injectPrefix(ctx: MethodContext, config: PrefixTuningConfig, options: InjectOptions): PrefixHandle {
  const geometry = resolveGeometry(ctx.model, config, options.code);
  const seqCls = isSeqCls(ctx.model, config);
  const modulesToSave = effectiveModulesToSave(ctx.model, config);
  const sites = headSites(ctx, modulesToSave);
  const resolved: PrefixTuningConfig = {
    ...config,
    token_dim: geometry.tokenDim,
    num_attention_heads: geometry.numKvHeads,
    num_layers: geometry.numLayers,
    num_transformer_submodules: 1,
    encoder_hidden_size: geometry.encoderHiddenSize,
    modules_to_save: modulesToSave,
    task_type: config.task_type ?? (seqCls ? 'SEQ_CLS' : 'CAUSAL_LM'),
  };
  const encoder = createEncoder(ctx, geometry, options.projection ?? config.prefix_projection);
  const handle: PrefixHandle = {
    kind: 'prefix',
    method: options.method,
    config: resolved,
    extra: options.extra,
    geometry,
    encoder,
    heads: [],
    dropout: options.dropout,
    trainableVariables: encoderVariables(encoder),
    hooked: [],
  };
  try {
    for (const site of sites) {
      const head = createHeadCopy(ctx, site);
      handle.heads.push(head);
      handle.trainableVariables.push(head.weight, ...(head.bias ? [head.bias] : []));
    }
    ctx.model.prefixes.attach(ctx.adapterName, prefixHook(ctx, handle));
    handle.hooked.push(ctx.model.prefixes);
    for (const head of handle.heads) {
      head.site.hooks.attach(ctx.adapterName, headHook(ctx.tf, head));
      handle.hooked.push(head.site.hooks);
    }
  } catch (error) {
    disposeHandle(ctx, handle);
    throw error;
  }
  return handle;
}

/** The prompt_embeddings PEFT saves: [T, width] (the MLP output when projected), a new tensor owned by the caller. */
export function promptEmbeddings(ctx: MethodContext, handle: PrefixHandle): Tensor {
  return ctx.tf.tidy(() => ctx.tf.clone(prefixTable(ctx.tf, handle.encoder)));
}
