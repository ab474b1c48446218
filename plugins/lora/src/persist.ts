import { assignSavedTensor, type MethodContext, PeftkitError, type SavedAdapter } from '@peftkit/core';
import { type LoraConfig, LoraConfigSchema } from './config.ts';
import { disposeHandle, injectLora } from './inject.ts';
import type { LoraHandle, Tensor, Variable } from './types.ts';

/** PEFT's adapter format: `adapter_config.json` fields and `base_model.model.<module path>.<tensor>` keys. */

export const PLUGIN_VERSION = '0.1.0';
const PREFIX = 'base_model.model.';

/** LoraConfig keys PEFT writes that this plugin reads past silently, with the values under which that is harmless. */
const PEFT_KEYS_AT_DEFAULT: Readonly<Record<string, (v: unknown) => boolean>> = {
  peft_type: () => true,
  peft_version: () => true,
  auto_mapping: () => true,
  megatron_config: () => true,
  megatron_core: () => true,
  runtime_config: () => true,
  loftq_config: () => true,
  eva_config: () => true,
  corda_config: () => true,
  qalora_group_size: () => true,
  ensure_weight_tying: () => true,
  lora_bias: (v) => v === false || v === null,
  use_qalora: (v) => v === false || v === null,
  layer_replication: (v) => v === null,
  trainable_token_indices: (v) => v === null,
  target_parameters: (v) => v === null || (Array.isArray(v) && v.length === 0),
  alora_invocation_tokens: (v) => v === null,
  arrow_config: (v) => v === null,
};

const configKeys = (): Set<string> => new Set(Object.keys(LoraConfigSchema.shape));

/**
 * Reads a saved adapter_config.json leniently: PEFT-only keys at harmless values pass, unknown keys are warned about.
 */
export function parseSavedConfig(ctx: MethodContext, raw: Readonly<Record<string, unknown>>): LoraConfig {
  const known = configKeys();
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (known.has(key)) picked[key] = value;
    else if (PEFT_KEYS_AT_DEFAULT[key] === undefined)
      ctx.log.warn(`lora: ignoring unknown adapter_config.json key '${key}'`);
    else if (!PEFT_KEYS_AT_DEFAULT[key](value)) {
      throw new PeftkitError(
        'PEFTKIT_E_ADAPTER_CONFIG',
        `adapter_config.json sets '${key}' to ${JSON.stringify(value)}, which this LoRA plugin does not support`,
        { key },
      );
    }
  }
  const init = picked.init_lora_weights;
  if (typeof init === 'string' && init !== 'gaussian') {
    // Initialisation does not matter once the saved tensors are loaded, but
    // PiSSA/OLoRA-style inits also rewrite the base.
    ctx.log.warn(
      `lora: init_lora_weights '${init}' is not supported; loading the saved tensors as a plain LoRA adapter`,
    );
    picked.init_lora_weights = true;
  }
  const parsed = LoraConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const text = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PeftkitError('PEFTKIT_E_ADAPTER_CONFIG', `invalid LoRA adapter_config.json: ${text}`, {
      issues: parsed.error.issues,
    });
  }
  return parsed.data;
}

export function saveLora(ctx: MethodContext, handle: LoraHandle): SavedAdapter {
  const { tf } = ctx;
  const c = handle.config;
  const tensors: Record<string, Tensor> = {};
  for (const layer of handle.layers) {
    const key = `${PREFIX}${layer.site.name}`;
    if (layer.kind === 'embedding') {
      tensors[`${key}.lora_embedding_A`] = tf.clone(layer.a);
      tensors[`${key}.lora_embedding_B`] = tf.clone(layer.b);
      continue;
    }
    tensors[`${key}.lora_A.weight`] = tf.clone(layer.a);
    tensors[`${key}.lora_B.weight`] = tf.clone(layer.b);
    if (layer.magnitude !== null) tensors[`${key}.lora_magnitude_vector`] = tf.clone(layer.magnitude);
  }
  for (const b of handle.biases) tensors[`${PREFIX}${b.site.name}.bias`] = tf.clone(b.bias);
  for (const m of handle.modules) {
    // PEFT saves the module copy in the layer's own layout (Conv1D keeps [in, out]).
    tensors[`${PREFIX}${m.site.name}.weight`] =
      m.site.layout === 'in_out' ? tf.transpose(m.weight) : tf.clone(m.weight);
    if (m.bias) tensors[`${PREFIX}${m.site.name}.bias`] = tf.clone(m.bias);
  }
  const config = {
    peft_type: 'LORA',
    peft_version: `peftkit-lora@${PLUGIN_VERSION}`,
    task_type: c.task_type ?? (ctx.model.task === 'seq-cls' ? 'SEQ_CLS' : 'CAUSAL_LM'),
    inference_mode: true,
    r: c.r,
    lora_alpha: c.lora_alpha,
    lora_dropout: c.lora_dropout,
    use_rslora: c.use_rslora,
    rank_pattern: c.rank_pattern,
    alpha_pattern: c.alpha_pattern,
    target_modules: c.target_modules,
    exclude_modules: c.exclude_modules,
    layers_to_transform: c.layers_to_transform,
    layers_pattern: c.layers_pattern,
    fan_in_fan_out: c.fan_in_fan_out,
    bias: c.bias,
    init_lora_weights: c.init_lora_weights,
    use_dora: c.use_dora,
    modules_to_save: c.modules_to_save,
    base_model_name_or_path: c.base_model_name_or_path,
    revision: c.revision,
  };
  return { config, tensors };
}

/** Assigns a saved tensor after checking its presence and exact shape (`transpose` for [in, out] module copies). */
function assign(
  ctx: MethodContext,
  saved: SavedAdapter,
  keys: readonly string[],
  target: Variable,
  used: Set<string>,
  transpose = false,
): void {
  assignSavedTensor(ctx.tf, saved, keys, target, used, { transpose });
}

export function loadLora(ctx: MethodContext, saved: SavedAdapter): { handle: LoraHandle; config: LoraConfig } {
  const config = parseSavedConfig(ctx, saved.config);
  const handle = injectLora(ctx, config);
  const used = new Set<string>();
  try {
    for (const layer of handle.layers) {
      const key = `${PREFIX}${layer.site.name}`;
      if (layer.kind === 'embedding') {
        assign(ctx, saved, [`${key}.lora_embedding_A`], layer.a, used);
        assign(ctx, saved, [`${key}.lora_embedding_B`], layer.b, used);
        continue;
      }
      assign(ctx, saved, [`${key}.lora_A.weight`], layer.a, used);
      assign(ctx, saved, [`${key}.lora_B.weight`], layer.b, used);
      if (layer.magnitude !== null)
        assign(
          ctx,
          saved,
          [`${key}.lora_magnitude_vector`, `${key}.lora_magnitude_vector.weight`],
          layer.magnitude,
          used,
        );
    }
    for (const b of handle.biases)
      assign(ctx, saved, [`${PREFIX}${b.site.name}.bias`, `${PREFIX}${b.site.name}.base_layer.bias`], b.bias, used);
    for (const m of handle.modules) {
      assign(ctx, saved, [`${PREFIX}${m.site.name}.weight`], m.weight, used, m.site.layout === 'in_out');
      if (m.bias) assign(ctx, saved, [`${PREFIX}${m.site.name}.bias`], m.bias, used);
    }
    // PEFT's bias 'all' also trains norm biases; dropping them silently would change the outputs.
    const stray = Object.keys(saved.tensors).find((k) => !used.has(k) && k.endsWith('.bias'));
    if (stray !== undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_ADAPTER_KEY_UNSUPPORTED',
        `trained bias '${stray}' does not belong to a linear module this plugin adapts`,
        {
          key: stray,
        },
      );
    }
  } catch (error) {
    disposeHandle(ctx, handle);
    throw error;
  }
  const extra = Object.keys(saved.tensors).filter((k) => !used.has(k));
  if (extra.length > 0)
    ctx.log.warn(`lora: ignoring ${extra.length} unexpected tensor(s) in the adapter weights, e.g. '${extra[0]}'`);
  return { handle, config };
}
