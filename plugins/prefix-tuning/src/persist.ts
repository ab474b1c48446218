import { assignSavedTensor, type MethodContext, PeftkitError, type SavedAdapter } from '@peftkit/core';
import type { PrefixTuningConfig } from './config.ts';
import { disposeHandle, type InjectOptions, injectPrefix, promptEmbeddings } from './inject.ts';
import type { PrefixHandle, Tensor, Variable } from './types.ts';

/**
 * PEFT's PREFIX_TUNING adapter: `adapter_config.json` with PrefixTuningConfig's fields and one tensor,
 * `prompt_embeddings` [T, num_layers · 2 · token_dim] (the MLP's output when `prefix_projection`), plus
 * `base_model.<head>.weight`/`.bias` for modules_to_save heads. The training checkpoint is the same plus the
 * encoder under PEFT's module names (`prompt_encoder.embedding.weight`, `prompt_encoder.transform.{0,2}.{weight,bias}`)
 * and `peftkit_training_checkpoint` in the config, so training resumes with the MLP.
 */

export const CHECKPOINT_KEY = 'peftkit_training_checkpoint';
const ENCODER = 'prompt_encoder';
const HEAD_PREFIX = 'base_model.';
/** Keys PEFT writes that carry nothing for peftkit. */
const IGNORED_KEYS = new Set(['peft_type', 'peft_version', 'auto_mapping', CHECKPOINT_KEY]);

export interface PersistSpec<Cfg extends PrefixTuningConfig> {
  readonly method: { readonly name: string; readonly version: string };
  readonly schema: {
    readonly shape: Readonly<Record<string, unknown>>;
    safeParse(
      value: unknown,
    ):
      | { success: true; data: Cfg }
      | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
  };
  /** Dropout and checkpoint-only fields of a parsed config. */
  readonly options: (config: Cfg) => Pick<InjectOptions, 'dropout' | 'extra'>;
}

function peftConfig(handle: PrefixHandle): Record<string, unknown> {
  const c = handle.config;
  return {
    auto_mapping: null,
    base_model_name_or_path: c.base_model_name_or_path,
    encoder_hidden_size: c.encoder_hidden_size,
    inference_mode: true,
    modules_to_save: c.modules_to_save,
    num_attention_heads: c.num_attention_heads,
    num_layers: c.num_layers,
    num_transformer_submodules: c.num_transformer_submodules,
    num_virtual_tokens: c.num_virtual_tokens,
    peft_type: 'PREFIX_TUNING',
    peft_version: `peftkit-${handle.method.name}@${handle.method.version}`,
    prefix_projection: c.prefix_projection,
    revision: c.revision,
    task_type: c.task_type,
    token_dim: c.token_dim,
  };
}

function headTensors(ctx: MethodContext, handle: PrefixHandle, out: Record<string, Tensor>): void {
  for (const head of handle.heads) {
    const key = `${HEAD_PREFIX}${head.site.name}`;
    // PEFT saves the copy in the layer's own layout (GPT-2 Conv1D keeps [in, out]).
    out[`${key}.weight`] = head.site.layout === 'in_out' ? ctx.tf.transpose(head.weight) : ctx.tf.clone(head.weight);
    if (head.bias) out[`${key}.bias`] = ctx.tf.clone(head.bias);
  }
}

export function savePrefix(ctx: MethodContext, handle: PrefixHandle): SavedAdapter {
  const tensors: Record<string, Tensor> = { prompt_embeddings: promptEmbeddings(ctx, handle) };
  headTensors(ctx, handle, tensors);
  return { config: peftConfig(handle), tensors };
}

/** The PEFT file plus the encoder and the method's extra fields: what resuming training needs. */
export function saveCheckpoint(ctx: MethodContext, handle: PrefixHandle): SavedAdapter {
  const saved = savePrefix(ctx, handle);
  const tensors = { ...saved.tensors } as Record<string, Tensor>;
  const p = handle.encoder.projection;
  if (p !== null) {
    tensors[`${ENCODER}.embedding.weight`] = ctx.tf.clone(handle.encoder.embedding);
    tensors[`${ENCODER}.transform.0.weight`] = ctx.tf.clone(p.w1);
    tensors[`${ENCODER}.transform.0.bias`] = ctx.tf.clone(p.b1);
    tensors[`${ENCODER}.transform.2.weight`] = ctx.tf.clone(p.w2);
    tensors[`${ENCODER}.transform.2.bias`] = ctx.tf.clone(p.b2);
  }
  // An adapter loaded from a PEFT file is flat even when its config says
  // prefix_projection: the checkpoint says what it holds.
  const config = {
    ...saved.config,
    ...handle.extra,
    inference_mode: false,
    prefix_projection: p !== null,
    [CHECKPOINT_KEY]: { method: handle.method.name, version: handle.method.version },
  };
  return { config, tensors };
}

/**
 * Reads adapter_config.json leniently: known fields are validated, PEFT bookkeeping ignored, unknown keys warned about.
 */
export function parseSavedConfig<Cfg extends PrefixTuningConfig>(
  ctx: MethodContext,
  spec: PersistSpec<Cfg>,
  raw: Readonly<Record<string, unknown>>,
): Cfg {
  if (raw.peft_type !== 'PREFIX_TUNING') {
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_CONFIG',
      `peft_type is ${JSON.stringify(raw.peft_type)}, expected "PREFIX_TUNING"`,
      { peftType: raw.peft_type },
    );
  }
  const known = new Set(Object.keys(spec.schema.shape));
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (known.has(key)) picked[key] = value;
    else if (!IGNORED_KEYS.has(key))
      ctx.log.warn(`${spec.method.name}: ignoring unknown adapter_config.json key '${key}'`);
  }
  const parsed = spec.schema.safeParse(picked);
  if (!parsed.success) {
    const text = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PeftkitError('PEFTKIT_E_ADAPTER_CONFIG', `invalid PREFIX_TUNING adapter_config.json: ${text}`, {
      issues: parsed.error.issues,
    });
  }
  return parsed.data;
}

/** Assigns a saved tensor after checking presence and exact shape (`transpose` for [in, out] head copies). */
function assign(
  ctx: MethodContext,
  saved: SavedAdapter,
  key: string,
  target: Variable,
  used: Set<string>,
  transpose = false,
): void {
  assignSavedTensor(ctx.tf, saved, key, target, used, { transpose });
}

function isCheckpoint(config: Readonly<Record<string, unknown>>): boolean {
  const marker = config[CHECKPOINT_KEY];
  return marker !== undefined && marker !== null && marker !== false;
}

/**
 * A PEFT file gives a flat prefix (PEFT too loads `prompt_embeddings` into a flat table for inference, even with
 * `prefix_projection`); a training checkpoint with `prefix_projection` rebuilds the MLP from its encoder tensors.
 */
export function loadPrefix<Cfg extends PrefixTuningConfig>(
  ctx: MethodContext,
  spec: PersistSpec<Cfg>,
  saved: SavedAdapter,
): { handle: PrefixHandle; config: Cfg } {
  const config = parseSavedConfig(ctx, spec, saved.config);
  const projection = config.prefix_projection && isCheckpoint(saved.config);
  const handle = injectPrefix(ctx, config, {
    ...spec.options(config),
    method: spec.method,
    projection,
    code: 'PEFTKIT_E_ADAPTER_CONFIG',
  });
  const used = new Set<string>();
  try {
    const p = handle.encoder.projection;
    if (p === null) assign(ctx, saved, 'prompt_embeddings', handle.encoder.embedding, used);
    else {
      assign(ctx, saved, `${ENCODER}.embedding.weight`, handle.encoder.embedding, used);
      assign(ctx, saved, `${ENCODER}.transform.0.weight`, p.w1, used);
      assign(ctx, saved, `${ENCODER}.transform.0.bias`, p.b1, used);
      assign(ctx, saved, `${ENCODER}.transform.2.weight`, p.w2, used);
      assign(ctx, saved, `${ENCODER}.transform.2.bias`, p.b2, used);
      used.add('prompt_embeddings'); // derived from the encoder; recomputed
    }
    for (const head of handle.heads) {
      const key = `${HEAD_PREFIX}${head.site.name}`;
      assign(ctx, saved, `${key}.weight`, head.weight, used, head.site.layout === 'in_out');
      if (head.bias) assign(ctx, saved, `${key}.bias`, head.bias, used);
    }
  } catch (error) {
    disposeHandle(ctx, handle);
    throw error;
  }
  const extra = Object.keys(saved.tensors).filter((k) => !used.has(k));
  if (extra.length > 0)
    ctx.log.warn(
      `${spec.method.name}: ignoring ${extra.length} unexpected tensor(s) in the adapter weights, e.g. '${extra[0]}'`,
    );
  return { handle, config };
}
