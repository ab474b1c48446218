import { type ConfigSchema, type MethodContext, PeftkitError, type SavedAdapter } from '@peftkit/core';
import type { PromptLearningConfig } from './config.ts';
import type { PromptLearningParts, Tensor } from './types.ts';

/**
 * PEFT's prompt-learning file format, shared by prompt tuning and P-Tuning: one `prompt_embeddings` tensor
 * [num_virtual_tokens · num_transformer_submodules, token_dim] (no `base_model.model.` prefix) plus, under SEQ_CLS,
 * the classifier copies as `base_model.<module>.weight` / `.bias` (PEFT strips `modules_to_save.<adapter>`).
 */

export const PROMPT_EMBEDDINGS = 'prompt_embeddings';

/** Config keys PEFT writes that carry nothing peftkit needs. */
const PEFT_ONLY_KEYS = new Set(['peft_type', 'peft_version', 'auto_mapping']);

const headKey = (site: string, tensor: 'weight' | 'bias') => `base_model.${site}.${tensor}`;

/** The fields every prompt-learning adapter_config.json has, with the dims resolved on the model. */
export function promptLearningConfigFields(
  parts: PromptLearningParts,
  config: PromptLearningConfig,
  peftType: string,
  version: string,
  taskFallback: string,
): Record<string, unknown> {
  return {
    peft_type: peftType,
    peft_version: version,
    task_type: config.task_type ?? taskFallback,
    inference_mode: true,
    num_virtual_tokens: parts.dims.numVirtualTokens,
    token_dim: parts.dims.tokenDim,
    num_transformer_submodules: parts.dims.numTransformerSubmodules,
    num_attention_heads: parts.dims.numAttentionHeads,
    num_layers: parts.dims.numLayers,
    modules_to_save: parts.modulesToSave,
    base_model_name_or_path: config.base_model_name_or_path,
    revision: config.revision,
  };
}

/** Clones of the head copies under PEFT's keys (owned by the caller). */
export function headTensors(ctx: MethodContext, parts: PromptLearningParts): Record<string, Tensor> {
  const { tf } = ctx;
  const out: Record<string, Tensor> = {};
  for (const head of parts.heads) {
    // PEFT saves a module copy in the layer's own layout (a Conv1D keeps [in, out]).
    out[headKey(head.site.name, 'weight')] =
      head.site.layout === 'in_out' ? tf.transpose(head.weight) : tf.clone(head.weight);
    if (head.bias !== null) out[headKey(head.site.name, 'bias')] = tf.clone(head.bias);
  }
  return out;
}

/**
 * Reads adapter_config.json leniently: PEFT-only keys pass, unknown keys are warned about, known keys strictly checked.
 */
export function parseSavedConfig<Cfg>(
  ctx: MethodContext,
  raw: Readonly<Record<string, unknown>>,
  schema: ConfigSchema<Cfg> & { shape: Record<string, unknown> },
  pluginName: string,
): Cfg {
  const known = new Set(Object.keys(schema.shape));
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (known.has(key)) picked[key] = value;
    else if (!PEFT_ONLY_KEYS.has(key)) ctx.log.warn(`${pluginName}: ignoring unknown adapter_config.json key '${key}'`);
  }
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const text = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PeftkitError('PEFTKIT_E_ADAPTER_CONFIG', `invalid ${pluginName} adapter_config.json: ${text}`, {
      issues: parsed.error.issues,
    });
  }
  return parsed.data;
}

/** The saved tensor under one of `keys`, checked for presence and exact shape; recorded in `used`. */
export function takeTensor(
  saved: SavedAdapter,
  keys: readonly string[],
  shape: readonly number[],
  used: Set<string>,
): Tensor {
  const key = keys.find((k) => saved.tensors[k] !== undefined);
  if (key === undefined)
    throw new PeftkitError('PEFTKIT_E_ADAPTER_KEY_MISSING', `adapter weights lack '${keys[0]}'`, { key: keys[0] });
  const tensor = saved.tensors[key] as Tensor;
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
    throw new PeftkitError('PEFTKIT_E_ADAPTER_KEY_SHAPE', `'${key}' has shape [${tensor.shape}], expected [${shape}]`, {
      key,
      shape: tensor.shape,
      expected: shape,
    });
  }
  if (tensor.dtype !== 'float32') {
    throw new PeftkitError('PEFTKIT_E_ADAPTER_DTYPE', `'${key}' has dtype ${tensor.dtype}, expected a float tensor`, {
      key,
    });
  }
  used.add(key);
  return tensor;
}

/** Checks every tensor value is finite: a NaN prompt would silently poison every output. */
export function assertFinite(tensor: Tensor, key: string): void {
  if ((tensor.dataSync() as Float32Array).some((v) => !Number.isFinite(v)))
    throw new PeftkitError('PEFTKIT_E_ADAPTER_NONFINITE', `'${key}' holds non-finite values`, { key });
}

/** Assigns the saved head copies (PEFT's `base_model.<module>` keys; `base_model.model.<module>` is accepted too). */
export function loadHeads(
  ctx: MethodContext,
  parts: PromptLearningParts,
  saved: SavedAdapter,
  used: Set<string>,
): void {
  const { tf } = ctx;
  for (const head of parts.heads) {
    const name = head.site.name;
    const transpose = head.site.layout === 'in_out';
    const shape = transpose ? [...head.weight.shape].reverse() : head.weight.shape;
    const weight = takeTensor(saved, [headKey(name, 'weight'), `base_model.model.${name}.weight`], shape, used);
    tf.tidy(() => head.weight.assign(transpose ? tf.transpose(weight) : weight));
    if (head.bias !== null) {
      const bias = takeTensor(saved, [headKey(name, 'bias'), `base_model.model.${name}.bias`], head.bias.shape, used);
      head.bias.assign(bias);
    }
  }
}

/** Warns about tensors no part of the adapter consumed. */
export function warnUnused(
  ctx: MethodContext,
  saved: SavedAdapter,
  used: ReadonlySet<string>,
  pluginName: string,
): void {
  const extra = Object.keys(saved.tensors).filter((k) => !used.has(k));
  if (extra.length > 0)
    ctx.log.warn(
      `${pluginName}: ignoring ${extra.length} unexpected tensor(s) in the adapter weights, e.g. '${extra[0]}'`,
    );
}
