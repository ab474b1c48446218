import { definePlugin, type MethodContext, type MethodPlugin, PeftkitError, type SavedAdapter } from '@peftkit/core';
import lora from '@peftkit/lora';
import type { Quantized4 } from './blockwise4.ts';
import {
  QLORA_CONFIG_KEY,
  type QloraConfig,
  QloraConfigSchema,
  type Quantization,
  QuantizationSchema,
  quantizeOptions,
  splitConfig,
} from './config.ts';
import { createHandle, type QloraHandle } from './handle.ts';
import { quantizeModel } from './quantize-model.ts';
import { QuantizedLinearBase } from './quantized-linear.ts';

export const PLUGIN_VERSION = '0.1.0';

/** The lora plugin's hooks are always present (merge: 'exact'); this keeps the calls typed. */
function loraHook<K extends 'merge' | 'unmerge'>(name: K): NonNullable<(typeof lora)[K]> {
  const hook = lora[name];
  if (hook === undefined)
    throw new PeftkitError('PEFTKIT_E_PLUGIN_HOOK', `the lora plugin lacks '${name}'`, { hook: name });
  return hook as NonNullable<(typeof lora)[K]>;
}

function inject(ctx: MethodContext, config: QloraConfig): QloraHandle {
  const { lora: loraConfig, quantization } = splitConfig(config);
  quantizeModel(ctx.tf, ctx.model, quantizeOptions(quantization));
  return createHandle(lora.inject(ctx, loraConfig), quantization);
}

/**
 * Merge = dequantize → add → requantize (lossy); the packed states before it are kept so unmerge restores them exactly.
 */
function merge(ctx: MethodContext, handle: QloraHandle, options: { safe: boolean }): void {
  if (handle.lora.merged) return;
  const before = new Map<QuantizedLinearBase, Quantized4>();
  for (const layer of handle.lora.layers) {
    if (layer.kind === 'linear' && layer.site.base instanceof QuantizedLinearBase)
      before.set(layer.site.base, layer.site.base.state);
  }
  loraHook('merge')(ctx, handle.lora, options);
  for (const [base, state] of before) handle.mergeStates.set(base, { before: state, after: base.state });
}

function unmerge(ctx: MethodContext, handle: QloraHandle): void {
  if (!handle.lora.merged) return;
  // Exact restore where nothing was merged on top since; elsewhere the requantized subtraction stands.
  const untouched = [...handle.mergeStates].filter(([base, states]) => base.state === states.after);
  loraHook('unmerge')(ctx, handle.lora);
  for (const [base, states] of untouched) base.setState(states.before);
  handle.mergeStates.clear();
}

function save(ctx: MethodContext, handle: QloraHandle): SavedAdapter {
  const saved = lora.save(ctx, handle.lora, handle.lora.config);
  return {
    ...saved,
    config: {
      ...saved.config,
      peft_version: `peftkit-qlora@${PLUGIN_VERSION}`,
      [QLORA_CONFIG_KEY]: { ...handle.quantization },
    },
  };
}

/** Reads the quantization of a saved adapter; a plain LoRA file (e.g. a PEFT QLoRA adapter) gets QLoRA's defaults. */
function savedQuantization(config: Readonly<Record<string, unknown>>): Quantization {
  const parsed = QuantizationSchema.safeParse(config[QLORA_CONFIG_KEY] ?? {});
  if (!parsed.success) {
    const text = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_CONFIG',
      `invalid '${QLORA_CONFIG_KEY}' in adapter_config.json: ${text}`,
      { issues: parsed.error.issues },
    );
  }
  return parsed.data;
}

function load(ctx: MethodContext, saved: SavedAdapter): { handle: QloraHandle; config: QloraConfig } {
  const quantization = savedQuantization(saved.config);
  const { [QLORA_CONFIG_KEY]: _marker, ...loraFile } = saved.config;
  quantizeModel(ctx.tf, ctx.model, quantizeOptions(quantization));
  const loaded = lora.load(ctx, { ...saved, config: loraFile });
  return { handle: createHandle(loaded.handle, quantization), config: { ...loaded.config, ...quantization } };
}

const plugin: MethodPlugin<QloraConfig, QloraHandle> = definePlugin<QloraConfig, QloraHandle>({
  meta: {
    name: 'qlora',
    version: PLUGIN_VERSION,
    core: '^1.0.0',
    family: 'reparam',
    dependencies: { lora: '^0.1.0' },
    peftType: 'LORA',
    description: 'QLoRA: LoRA on a 4-bit (NF4/FP4, double-quantized) frozen base kept outside the tensor backend',
  },
  configSchema: QloraConfigSchema,
  // Merge tolerance: see README "Merge tolerance" (requantization error of the merged weight on the conformance model).
  capabilities: { merge: 'dequantize', identityAtInit: true, mixedBatch: true, mergeTolerance: 2.5 },
  inject,
  merge,
  unmerge,
  save: (ctx, handle) => save(ctx, handle),
  load,
  recognizes: (config) =>
    config.peft_type === 'LORA' && typeof config[QLORA_CONFIG_KEY] === 'object' && config[QLORA_CONFIG_KEY] !== null,
  dispose(ctx, handle) {
    unmerge(ctx, handle);
    lora.dispose(ctx, handle.lora);
  },
});

export default plugin;
