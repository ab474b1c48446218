import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadedModelGraph } from '@peftkit/core';
import { PeftkitError } from '@peftkit/io';
import { type SafetensorsTensor, decodeTensor, readModelWeights } from '@peftkit/io';
import type { Tf } from '@peftkit/core';
import { loadTokenizer } from '../tokenizers/load.ts';
import type { Tokenizer } from '@peftkit/core';
import { Rng } from '@peftkit/core';
import { BertModel } from './bert.ts';
import { parseBertConfig } from './bert-config.ts';
import { Gpt2Model } from './gpt2.ts';
import { labelsFromConfig, parseGpt2Config } from './gpt2-config.ts';
import type { LinearBaseFactory, ModelTask } from '@peftkit/core';
import { DenseLinearBase } from '@peftkit/core';
import { LlamaModel } from './llama.ts';
import { parseLlamaConfig } from './llama-config.ts';
import type { HostTensors, WeightSource } from '@peftkit/core';

/** What loadModel returns: the seam plus the task entry points (causal LMs have `forward` and `createCache`). */
export type { LoadedModelGraph };

/** A tensor Hugging Face creates when the checkpoint lacks it (a task head on a base checkpoint). */
export interface NewTensor {
  name: string;
  shape: number[];
  init: 'normal' | 'zeros';
}

export interface ArchitectureEntry {
  /** Tasks the architecture runs; the first is the default when `architectures` does not tell. */
  readonly tasks: readonly ModelTask[];
  /** Hugging Face base_model_prefix: checkpoints of the bare base model lack it on every name. */
  readonly basePrefix: string;
  create(
    tf: Tf,
    config: unknown,
    weights: WeightSource,
    options: { task: ModelTask; labels: readonly string[]; linearBase?: LinearBaseFactory },
  ): LoadedModelGraph;
  /** Head tensors of `task` that are freshly initialized when absent (HF's "newly initialized" weights). */
  newTensors(config: unknown, task: ModelTask, labels: readonly string[]): NewTensor[];
}

const llamaEntry: ArchitectureEntry = {
  tasks: ['causal-lm', 'seq-cls'],
  basePrefix: 'model.',
  create: (tf, config, weights, { task, labels, linearBase }) =>
    new LlamaModel(tf, config, weights, {
      ...(task === 'seq-cls' ? { task, labels } : { task }),
      ...(linearBase ? { linearBase } : {}),
    }),
  newTensors: (config, task, labels) =>
    task === 'seq-cls'
      ? [{ name: 'score.weight', shape: [labels.length, parseLlamaConfig(config).dims.hiddenSize], init: 'normal' }]
      : [],
};

/** model_type → implementation. Add entries to support more architectures; loadModel reads only this map. */
export const ARCHITECTURES: Map<string, ArchitectureEntry> = new Map<string, ArchitectureEntry>([
  ['llama', llamaEntry],
  ['mistral', llamaEntry],
  ['qwen2', llamaEntry],
  [
    'gpt2',
    {
      tasks: ['causal-lm', 'seq-cls'],
      basePrefix: 'transformer.',
      create: (tf, config, weights, { linearBase, ...options }) => {
        if (linearBase) throw noCustomBases('gpt2');
        return new Gpt2Model(tf, config, weights, options);
      },
      newTensors: (config, task, labels) =>
        task === 'seq-cls'
          ? [{ name: 'score.weight', shape: [labels.length, parseGpt2Config(config).dims.hiddenSize], init: 'normal' }]
          : [],
    },
  ],
  [
    'bert',
    {
      tasks: ['seq-cls'],
      basePrefix: 'bert.',
      create: (tf, config, weights, { linearBase, ...options }) => {
        if (linearBase) throw noCustomBases('bert');
        return new BertModel(tf, config, weights, options);
      },
      newTensors: (config, _task, labels) => {
        const d = parseBertConfig(config).dims.hiddenSize;
        return [
          { name: 'bert.pooler.dense.weight', shape: [d, d], init: 'normal' },
          { name: 'bert.pooler.dense.bias', shape: [d], init: 'zeros' },
          { name: 'classifier.weight', shape: [labels.length, d], init: 'normal' },
          { name: 'classifier.bias', shape: [labels.length], init: 'zeros' },
        ];
      },
    },
  ],
]);

function noCustomBases(arch: string): PeftkitError {
  return new PeftkitError(
    'PEFTKIT_E_MODEL_ARCH',
    `building linear bases at load time (quantized loading) is supported for Llama-family models, not ${arch}`,
    {
      arch,
    },
  );
}

export interface LoadModelOptions {
  /** Default: from `architectures` (…ForSequenceClassification → seq-cls), else the architecture's first task. */
  task?: ModelTask;
  /** Classification labels (default: the config's id2label / num_labels). */
  labels?: readonly string[];
  /** Seed for head tensors the checkpoint lacks (default 0). */
  seed?: number;
  /**
   * Builds the non-head linear bases from host weights while loading (Llama family): QLoRA's
   * `quantizedLinearBases()` quantizes here, so models larger than the backend's float32 limit still load.
   */
  linearBase?: LinearBaseFactory;
}

export interface LoadedModel {
  model: LoadedModelGraph;
  config: Record<string, unknown>;
  tokenizer: Tokenizer | null;
  generationConfig: Record<string, unknown> | null;
  /** Checkpoint tensors the model did not use (e.g. GPT-2's attn.bias mask buffers, a tied lm_head copy). */
  unusedTensors: string[];
  /** Head tensors that were missing and freshly initialized, as HF warns. */
  initializedTensors: string[];
}

async function readJson(path: string, required: boolean): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT' && !required) return null;
    throw new PeftkitError(
      'PEFTKIT_E_MODEL_CONFIG',
      `cannot read ${path}: ${String(error)}`,
      { path },
      { cause: error },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new PeftkitError('PEFTKIT_E_MODEL_CONFIG', `${path} is not valid JSON`, { path }, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new PeftkitError('PEFTKIT_E_MODEL_CONFIG', `${path} is not a JSON object`, { path });
  return value as Record<string, unknown>;
}

function defaultTask(config: Record<string, unknown>, entry: ArchitectureEntry): ModelTask {
  const names = Array.isArray(config.architectures)
    ? config.architectures.filter((a): a is string => typeof a === 'string')
    : [];
  if (names.some((n) => n.endsWith('ForSequenceClassification'))) return 'seq-cls';
  if (names.some((n) => n.endsWith('ForCausalLM') || n.endsWith('LMHeadModel'))) return 'causal-lm';
  return entry.tasks[0] as ModelTask;
}

/**
 * Checkpoint tensors by name, decoded to float32 only when the model takes them (one tensor at a time, so the
 * float32 copies never all coexist). Names are normalized as HF does: LayerNorm gamma/beta become weight/bias, and
 * a bare base-model checkpoint gets the base prefix.
 */
function hostTensors(tensors: ReadonlyMap<string, SafetensorsTensor>, basePrefix: string): HostTensors {
  const names = [...tensors.keys()];
  const prefixed = names.some((n) => n.startsWith(basePrefix));
  const out: HostTensors = new Map();
  for (const [raw, entry] of tensors) {
    let name = raw.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
    if (!prefixed) name = basePrefix + name;
    out.set(name, {
      shape: [...entry.shape],
      get values(): Float32Array {
        const decoded = decodeTensor(entry);
        if (decoded.dtype !== 'float32') {
          throw new PeftkitError(
            'PEFTKIT_E_MODEL_TENSOR_DTYPE',
            `tensor '${name}' has dtype ${entry.dtype}, expected a float type`,
            {
              tensor: name,
              dtype: entry.dtype,
            },
          );
        }
        return decoded.values;
      },
    });
  }
  return out;
}

/**
 * Loads a Hugging Face model directory: config.json, model.safetensors (or a sharded index), tokenizer and
 * generation_config.json when present. Dispatches on `model_type` through ARCHITECTURES.
 */
export async function loadModel(tf: Tf, dir: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const config = (await readJson(join(dir, 'config.json'), true)) as Record<string, unknown>;
  const modelType = config.model_type;
  if (typeof modelType !== 'string')
    throw new PeftkitError('PEFTKIT_E_MODEL_CONFIG', `${join(dir, 'config.json')} has no model_type`, { dir });
  const entry = ARCHITECTURES.get(modelType);
  if (entry === undefined) {
    throw new PeftkitError(
      'PEFTKIT_E_MODEL_ARCH',
      `unsupported model_type '${modelType}' (supported: ${[...ARCHITECTURES.keys()].join(', ')})`,
      {
        modelType,
        supported: [...ARCHITECTURES.keys()],
      },
    );
  }
  const task = options.task ?? defaultTask(config, entry);
  if (!entry.tasks.includes(task)) {
    throw new PeftkitError('PEFTKIT_E_MODEL_TASK', `model_type '${modelType}' does not support task '${task}'`, {
      modelType,
      task,
      supported: entry.tasks,
    });
  }
  const labels =
    options.labels ?? labelsFromConfig(config as { id2label?: Record<string, string>; num_labels?: number });

  const weights = await readModelWeights(dir);
  const tensors = hostTensors(weights.tensors, entry.basePrefix);
  const initializedTensors: string[] = [];
  const rng = new Rng(options.seed ?? 0);
  const std = typeof config.initializer_range === 'number' ? config.initializer_range : 0.02;
  for (const t of entry.newTensors(config, task, labels)) {
    if (tensors.has(t.name)) continue;
    const size = t.shape.reduce((a, b) => a * b, 1);
    tensors.set(t.name, {
      shape: t.shape,
      values: t.init === 'normal' ? rng.normalArray(size, 0, std) : new Float32Array(size),
    });
    initializedTensors.push(t.name);
  }
  const model = entry.create(
    tf,
    config,
    { kind: 'tensors', tensors },
    { task, labels, ...(options.linearBase ? { linearBase: options.linearBase } : {}) },
  );
  const used = new Set(model.parameters().keys());
  // weights of swapped (e.g. quantized) linear bases live outside the parameters but were used
  for (const site of model.sites())
    if (site.kind === 'linear' && !(site.base instanceof DenseLinearBase)) used.add(`${site.name}.weight`);
  const unusedTensors = [...tensors.keys()].filter((n) => !used.has(n));

  let tokenizer: Tokenizer | null = null;
  let generationConfig: Record<string, unknown> | null = null;
  try {
    tokenizer = await loadTokenizer(dir).catch((error: unknown) => {
      if (error instanceof PeftkitError && error.code === 'PEFTKIT_E_TOKENIZER_NOT_FOUND') return null;
      throw error;
    });
    generationConfig = await readJson(join(dir, 'generation_config.json'), false);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, config, tokenizer, generationConfig, unusedTensors, initializedTensors };
}
