import { type MethodContext, PeftkitError, type SavedAdapter } from '@peftkit/core';
import type { Tensor, Variable } from '@peftkit/core';
import { type BottleneckConfig, BottleneckConfigSchema } from './config.ts';
import { type BottleneckHandle, disposeBottleneck, injectBottleneck } from './inject.ts';
import { adapterModulePath, adapterNamesInKeys, layerTensorNames } from './naming.ts';

/**
 * AdapterHub's adapter directory: `adapter_config.json` (`{config, hidden_size, model_class, …}`) +
 * `adapter.safetensors`. These are the `adapters` library's own names (utils.py: CONFIG_NAME, SAFE_WEIGHTS_NAME), which
 * its `load_adapter(..., use_safetensors=True)` reads and `save_adapter(..., use_safetensors=True)` writes; its default
 * pickle, `pytorch_adapter.bin` (WEIGHTS_NAME), is not read. There is no `pytorch_adapter.safetensors`.
 */

export const PLUGIN_VERSION = '0.1.0';
export const ADAPTERHUB_FILES = { config: 'adapter_config.json', weights: 'adapter.safetensors' } as const;

const MODEL_CLASS: Readonly<Record<string, string>> = {
  bert: 'BertAdapterModel',
  gpt2: 'GPT2AdapterModel',
  llama: 'LlamaAdapterModel',
};

/** BnConfig fields this plugin does not implement, at the values where ignoring them is exact. */
const UNSUPPORTED_AT_DEFAULT: Readonly<Record<string, (v: unknown) => boolean>> = {
  is_parallel: (v) => v === false,
  use_gating: (v) => v === false,
  phm_layer: (v) => v === false,
  inv_adapter: (v) => v === null || v === undefined,
};
/**
 * BnConfig fields read past silently: PHM details (unused without phm_layer),
 * training-only or decoder cross-attention options.
 */
const IGNORED = new Set([
  'architecture',
  'inv_adapter_reduction_factor',
  'cross_adapter',
  'phm_dim',
  'factorized_phm_W',
  'shared_W_phm',
  'shared_phm_rule',
  'factorized_phm_rule',
  'phm_c_init',
  'phm_init_range',
  'learn_phm',
  'hypercomplex_nonlinearity',
  'phm_rank',
  'phm_bias',
  'stochastic_depth',
  'init_weights_seed',
]);
const READ = [
  'mh_adapter',
  'output_adapter',
  'reduction_factor',
  'non_linearity',
  'original_ln_before',
  'original_ln_after',
  'residual_before_ln',
  'adapter_residual_before_ln',
  'ln_before',
  'ln_after',
  'init_weights',
  'scaling',
  'dropout',
  'leave_out',
] as const;

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function configError(message: string, details: Record<string, unknown> = {}): PeftkitError {
  return new PeftkitError('PEFTKIT_E_ADAPTER_CONFIG', message, details);
}

/** True for an AdapterHub bottleneck-adapter config file (no `peft_type`; a `config` with BnConfig's fields). */
export function recognizesAdapterHub(config: Readonly<Record<string, unknown>>): boolean {
  const inner = config.config;
  if (config.peft_type !== undefined || !isRecord(inner)) return false;
  const arch = inner.architecture;
  return (
    (arch === undefined || arch === null || arch === 'bottleneck') &&
    'reduction_factor' in inner &&
    ('mh_adapter' in inner || 'output_adapter' in inner)
  );
}

/** The full BnConfig dict AdapterHub writes (its `to_dict()`), with this adapter's values. */
function bnConfigDict(c: BottleneckConfig): Record<string, unknown> {
  return {
    adapter_residual_before_ln: c.adapter_residual_before_ln,
    cross_adapter: false,
    dropout: c.dropout,
    factorized_phm_W: true,
    factorized_phm_rule: false,
    hypercomplex_nonlinearity: 'glorot-uniform',
    init_weights: c.init_weights,
    inv_adapter: null,
    inv_adapter_reduction_factor: null,
    is_parallel: false,
    learn_phm: true,
    leave_out: c.leave_out,
    ln_after: c.ln_after,
    ln_before: c.ln_before,
    mh_adapter: c.mh_adapter,
    non_linearity: c.non_linearity,
    original_ln_after: c.original_ln_after,
    original_ln_before: c.original_ln_before,
    output_adapter: c.output_adapter,
    phm_bias: true,
    phm_c_init: 'normal',
    phm_dim: 4,
    phm_init_range: 0.0001,
    phm_layer: false,
    phm_rank: 1,
    reduction_factor: c.reduction_factor,
    residual_before_ln: c.residual_before_ln,
    scaling: c.scaling,
    shared_W_phm: false,
    shared_phm_rule: true,
    stochastic_depth: 0,
    use_gating: false,
  };
}

export function saveBottleneck(ctx: MethodContext, handle: BottleneckHandle): SavedAdapter {
  const tensors: Record<string, Tensor> = {};
  for (const layer of handle.layers) {
    const path = adapterModulePath(ctx.model, layer.site, ctx.adapterName);
    for (const [key, v] of layerTensorNames(path, layer)) tensors[key] = ctx.tf.clone(v);
  }
  const config = {
    config: bnConfigDict(handle.config),
    hidden_size: ctx.model.dims.hiddenSize,
    model_class: MODEL_CLASS[ctx.model.arch] ?? null,
    model_name: handle.config.base_model_name_or_path,
    model_type: ctx.model.arch,
    name: ctx.adapterName,
    version: `peftkit-bottleneck.${PLUGIN_VERSION}`,
  };
  return { config, tensors, files: ADAPTERHUB_FILES };
}

/** Reads AdapterHub's config file leniently: unknown keys are warned about, unsupported features rejected. */
export function parseSavedConfig(ctx: MethodContext, raw: Readonly<Record<string, unknown>>): BottleneckConfig {
  const inner = raw.config;
  if (!isRecord(inner)) throw configError('AdapterHub adapter_config.json has no "config" object');
  const hidden = raw.hidden_size;
  if (hidden !== undefined && hidden !== ctx.model.dims.hiddenSize) {
    throw configError(
      `adapter was trained for hidden_size ${JSON.stringify(hidden)}, the model has ${ctx.model.dims.hiddenSize}`,
      { hidden_size: hidden },
    );
  }
  if (typeof raw.model_type === 'string' && raw.model_type !== ctx.model.arch) {
    ctx.log.warn(`bottleneck: adapter was saved for model_type '${raw.model_type}', loading into '${ctx.model.arch}'`);
  }
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(inner)) {
    if ((READ as readonly string[]).includes(key)) picked[key] = value;
    else if (UNSUPPORTED_AT_DEFAULT[key] !== undefined) {
      if (!UNSUPPORTED_AT_DEFAULT[key](value))
        throw configError(
          `AdapterHub config sets '${key}' to ${JSON.stringify(value)}, which this plugin does not support`,
          { key },
        );
    } else if (!IGNORED.has(key)) ctx.log.warn(`bottleneck: ignoring unknown AdapterHub config key '${key}'`);
  }
  if (typeof picked.init_weights === 'string' && !['bert', 'mam_adapter', 'houlsby'].includes(picked.init_weights)) {
    // The saved tensors replace the initial values, so the init scheme does not change the loaded adapter.
    ctx.log.warn(
      `bottleneck: init_weights '${picked.init_weights}' is unknown; the saved tensors are loaded as they are`,
    );
    picked.init_weights = 'bert';
  }
  if (typeof picked.scaling === 'string')
    throw configError(`scaling '${picked.scaling}' (a learned scale) is not supported`, { key: 'scaling' });
  if (typeof raw.model_name === 'string') picked.base_model_name_or_path = raw.model_name;
  const parsed = BottleneckConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const text = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw configError(`invalid AdapterHub bottleneck config: ${text}`, { issues: parsed.error.issues });
  }
  return parsed.data;
}

/** The adapter name the file's keys use: its `name`, else the one name found in the keys. */
function savedName(raw: Readonly<Record<string, unknown>>, keys: readonly string[]): string {
  if (typeof raw.name === 'string' && raw.name.length > 0) return raw.name;
  const names = [...adapterNamesInKeys(keys)];
  if (names.length !== 1)
    throw configError(`cannot tell the adapter name from the weight keys (found ${names.length} names)`, { names });
  return names[0] as string;
}

function assign(ctx: MethodContext, saved: SavedAdapter, key: string, target: Variable): void {
  const tensor = saved.tensors[key];
  if (tensor === undefined)
    throw new PeftkitError('PEFTKIT_E_ADAPTER_KEY_MISSING', `adapter weights lack '${key}'`, { key });
  if (tensor.shape.length !== target.shape.length || tensor.shape.some((d, i) => d !== target.shape[i])) {
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_KEY_SHAPE',
      `'${key}' has shape [${tensor.shape}], expected [${target.shape}]`,
      {
        key,
        shape: tensor.shape,
        expected: target.shape,
      },
    );
  }
  ctx.tf.tidy(() => target.assign(ctx.tf.cast(tensor, 'float32')));
}

export function loadBottleneck(
  ctx: MethodContext,
  saved: SavedAdapter,
): { handle: BottleneckHandle; config: BottleneckConfig } {
  const config = parseSavedConfig(ctx, saved.config);
  const keys = Object.keys(saved.tensors);
  const name = savedName(saved.config, keys);
  const handle = injectBottleneck(ctx, config);
  const used = new Set<string>();
  try {
    for (const layer of handle.layers) {
      for (const [key, v] of layerTensorNames(adapterModulePath(ctx.model, layer.site, name), layer)) {
        assign(ctx, saved, key, v);
        used.add(key);
      }
    }
  } catch (error) {
    disposeBottleneck(ctx, handle);
    throw error;
  }
  const extra = keys.filter((k) => !used.has(k));
  if (extra.length > 0)
    ctx.log.warn(
      `bottleneck: ignoring ${extra.length} unexpected tensor(s) in the adapter weights, e.g. '${extra[0]}'`,
    );
  return { handle, config };
}
