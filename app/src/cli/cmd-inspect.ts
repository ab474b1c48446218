import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { findPluginForConfig } from '@peftkit/core';
import { isPeftkitError, PeftkitError } from '@peftkit/io';
import { IO_ERROR_CODES } from '@peftkit/io';
import { readSafetensorsFile } from '@peftkit/io';
import { readModelWeights } from '@peftkit/io';
import { numel, type SafetensorsTensor } from '@peftkit/io';
import { createKernel } from '../compose.ts';
import { parseCommand } from './args.ts';
import type { Command } from './commands.ts';
import { loadPlugins } from './discover.ts';
import { adapterStatsOnModel } from './inspect-stats.ts';
import { formatBytes } from '../report/format.ts';

const usage = `Usage: peftkit inspect <dir> [--model <base-dir>] [--json] [--plugin <specifier>]...

Describes a Hugging Face model directory (architecture, sizes, parameter count, tensors by dtype) or a saved
adapter (method and plugin that reads it, config, parameter count and size; with --model, or a reachable
base_model_name_or_path, its trainable vs frozen parameters as its plugin reports them once loaded on the base
model, and the share of the base model's parameters it trains). Models: only headers and configs are read.`;

/** Tensor summary of one safetensors file set. */
interface TensorStats {
  tensors: number;
  parameters: number;
  bytes: number;
  dtypes: Record<string, number>;
}

function stats(tensors: ReadonlyMap<string, SafetensorsTensor>): TensorStats {
  const out: TensorStats = { tensors: 0, parameters: 0, bytes: 0, dtypes: {} };
  for (const t of tensors.values()) {
    const n = numel(t.shape);
    out.tensors++;
    out.parameters += n;
    out.bytes += t.data.byteLength;
    out.dtypes[t.dtype] = (out.dtypes[t.dtype] ?? 0) + n;
  }
  return out;
}

async function readJsonFile(path: string): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (cause) {
    throw new PeftkitError('PEFTKIT_E_INSPECT', `${path} is not a JSON object`, { path }, { cause });
  }
}

async function adapterWeights(dir: string): Promise<{ file: string; tensors: Map<string, SafetensorsTensor> }> {
  for (const file of ['adapter_model.safetensors', 'adapter.safetensors', 'model.safetensors']) {
    try {
      return { file, tensors: (await readSafetensorsFile(join(dir, file))).tensors };
    } catch (error) {
      if (!isPeftkitError(error, IO_ERROR_CODES.NOT_FOUND)) throw error;
    }
  }
  throw new PeftkitError('PEFTKIT_E_INSPECT', `no adapter weights in '${dir}'`, { dir });
}

const fmtBytes = formatBytes;
const fmtCount = (n: number): string => n.toLocaleString('en-US');

async function inspectModel(dir: string, config: Record<string, unknown>): Promise<Record<string, unknown>> {
  const weights = await readModelWeights(dir);
  const s = stats(weights.tensors);
  const pick = (...keys: string[]) => keys.map((k) => config[k]).find((v) => v !== undefined) ?? null;
  return {
    kind: 'model',
    dir,
    modelType: config.model_type ?? null,
    architectures: config.architectures ?? null,
    hiddenSize: pick('hidden_size', 'n_embd', 'dim'),
    layers: pick('num_hidden_layers', 'n_layer'),
    heads: pick('num_attention_heads', 'n_head'),
    kvHeads: pick('num_key_value_heads', 'num_attention_heads', 'n_head'),
    vocabSize: config.vocab_size ?? null,
    maxPositions: pick('max_position_embeddings', 'n_positions'),
    tiedEmbeddings: config.tie_word_embeddings ?? null,
    weights: weights.kind === 'single' ? 'model.safetensors' : `${weights.shards.length} shards`,
    ...s,
    tokenizer:
      (await readJsonFile(join(dir, 'tokenizer_config.json'))) !== null ||
      (await readJsonFile(join(dir, 'tokenizer.json'))) !== null,
    // `train --method full` leaves its record next to the model it wrote
    fullFineTuning: await readJsonFile(join(dir, 'peftkit_full_config.json')),
  };
}

async function inspectAdapter(
  dir: string,
  config: Record<string, unknown>,
  modelDir: string | undefined,
  plugins: readonly string[],
) {
  const kernel = await createKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
  await loadPlugins(kernel, plugins);
  const plugin = findPluginForConfig(kernel.registry.list(), config);
  const { file, tensors } = await adapterWeights(dir);
  const s = stats(tensors);
  let baseParameters: number | null = null;
  const base =
    modelDir ?? (typeof config.base_model_name_or_path === 'string' ? config.base_model_name_or_path : undefined);
  if (base !== undefined) {
    try {
      baseParameters = stats((await readModelWeights(base)).tensors).parameters;
    } catch (error) {
      if (modelDir !== undefined) throw error; // only the config's hint may be unreachable
    }
  }
  // Which saved tensors are trained only the plugin knows: ask it with the adapter loaded on the base model.
  let adapterStats: { trainableParams: number; frozenParams: number; residentBytes: number } | null = null;
  let statsError: string | null = null;
  if (plugin && base !== undefined && baseParameters !== null) {
    try {
      adapterStats = await adapterStatsOnModel(kernel, dir, base);
    } catch (error) {
      statsError = error instanceof Error ? error.message : String(error);
    }
  }
  await kernel.dispose();
  const warnings = fitWarnings(
    config,
    modelDir,
    base,
    plugin !== undefined && baseParameters !== null ? statsError : null,
  );
  return {
    kind: 'adapter',
    dir,
    peftType: config.peft_type ?? null,
    method: plugin ? plugin.meta.name : null,
    pluginVersion: plugin ? plugin.meta.version : null,
    savedBy: config.peft_version ?? null,
    weights: file,
    ...s,
    trainableParameters: adapterStats?.trainableParams ?? null,
    frozenParameters: adapterStats?.frozenParams ?? null,
    residentBytes: adapterStats?.residentBytes ?? null,
    ...(statsError !== null ? { statsError } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
    baseParameters,
    trainablePercent: baseParameters && adapterStats ? (100 * adapterStats.trainableParams) / baseParameters : null,
    config,
  };
}

/**
 * Why the adapter may not belong to the base it is inspected on: its plugin refused to load it there (shapes,
 * missing target modules), or its config names another base. Printed as warnings, and listed in --json.
 */
function fitWarnings(
  config: Record<string, unknown>,
  modelDir: string | undefined,
  base: string | undefined,
  loadError: string | null,
): string[] {
  const warnings: string[] = [];
  if (loadError !== null && base !== undefined)
    warnings.push(`the adapter does not fit the model '${base}': ${loadError}`);
  const named = typeof config.base_model_name_or_path === 'string' ? config.base_model_name_or_path : undefined;
  if (
    modelDir !== undefined &&
    named !== undefined &&
    resolve(named) !== resolve(modelDir) &&
    basename(named) !== basename(resolve(modelDir))
  ) {
    warnings.push(
      `the adapter was saved for base '${named}', not '${modelDir}': ` +
        'counts and percentages may not mean what they seem',
    );
  }
  return warnings;
}

function render(info: Record<string, unknown>): string {
  const rows: [string, string][] = [];
  const add = (label: string, value: unknown) => {
    if (value !== null && value !== undefined)
      rows.push([label, typeof value === 'string' ? value : JSON.stringify(value)]);
  };
  if (info.kind === 'model') {
    add('model', info.dir);
    add('model_type', info.modelType);
    add('architectures', info.architectures);
    add('hidden / layers / heads / kv heads', `${info.hiddenSize} / ${info.layers} / ${info.heads} / ${info.kvHeads}`);
    add('vocabulary / max positions', `${info.vocabSize} / ${info.maxPositions}`);
    add('tied embeddings', info.tiedEmbeddings);
    if (info.fullFineTuning)
      add('trained by', 'peftkit train --method full (a complete model: use it as --model, nothing to merge)');
  } else {
    add('adapter', info.dir);
    add(
      'method',
      info.method === null
        ? `unknown (peft_type ${JSON.stringify(info.peftType)}: no installed plugin reads it)`
        : `${info.method} ${info.pluginVersion}`,
    );
    add('peft_type', info.peftType);
    add('saved by version', info.savedBy);
  }
  add('weights', info.weights);
  add('tensors', fmtCount(info.tensors as number));
  add('parameters', fmtCount(info.parameters as number));
  add('size', fmtBytes(info.bytes as number));
  add(
    'by dtype',
    Object.entries(info.dtypes as Record<string, number>)
      .map(([d, n]) => `${d} ${fmtCount(n)}`)
      .join(', '),
  );
  if (info.kind === 'adapter') {
    add(
      'trainable / frozen',
      info.trainableParameters === null
        ? `unknown (${info.statsError ?? 'needs the base model: --model <base-dir>'})`
        : `${fmtCount(info.trainableParameters as number)} / ${fmtCount(info.frozenParameters as number)} ` +
            `parameters, ${fmtBytes(info.residentBytes as number)} resident`,
    );
    if (info.baseParameters !== null && info.trainablePercent !== null)
      add(
        'trainable',
        `${(info.trainablePercent as number).toFixed(4)}% of ` +
          `${fmtCount(info.baseParameters as number)} base parameters`,
      );
    for (const [k, v] of Object.entries(info.config as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      add(`  ${k}`, v);
  } else add('tokenizer', info.tokenizer ? 'yes' : 'no');
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, v]) => `${l.padEnd(width)}  ${v}`).join('\n');
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'describe a model directory or a saved adapter',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(
      argv,
      { model: { type: 'string' }, json: { type: 'boolean' }, plugin: { type: 'string', multiple: true } },
      'inspect',
    );
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const dir = positionals[0];
    if (dir === undefined || positionals.length > 1) {
      throw new PeftkitError('PEFTKIT_E_USAGE', `inspect: expected exactly one <dir> (see 'peftkit inspect --help')`, {
        command: 'inspect',
      });
    }
    const adapterConfig = await readJsonFile(join(dir, 'adapter_config.json'));
    const modelConfig = adapterConfig === null ? await readJsonFile(join(dir, 'config.json')) : null;
    let info: Record<string, unknown>;
    if (adapterConfig !== null) {
      info = await inspectAdapter(
        dir,
        adapterConfig,
        values.model as string | undefined,
        (values.plugin as string[] | undefined) ?? [],
      );
    } else if (modelConfig !== null) {
      info = await inspectModel(dir, modelConfig);
    } else {
      throw new PeftkitError('PEFTKIT_E_INSPECT', `'${dir}' holds neither adapter_config.json nor config.json`, {
        dir,
      });
    }
    for (const w of (info.warnings as string[] | undefined) ?? []) io.err(`peftkit inspect: warning: ${w}`);
    io.out(values.json ? JSON.stringify(info, null, 2) : render(info));
    return 0;
  },
};
