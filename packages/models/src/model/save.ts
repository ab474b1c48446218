import { mkdir, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PeftkitError } from '@peftkit/io';
import { atomicWriteFile } from '@peftkit/io';
import { type TensorToWrite, writeSafetensorsFile, writeShardedSafetensors } from '@peftkit/io';
import { SHARDED_INDEX_FILE, SINGLE_WEIGHTS_FILE } from '@peftkit/io';
import type { ModelGraph } from '@peftkit/core';
import { DenseLinearBase } from '@peftkit/core';

export interface SaveModelOptions {
  /** Written as config.json (the loaded config, possibly edited by the caller). */
  config: Record<string, unknown>;
  /** Extra files copied verbatim, e.g. tokenizer.json and tokenizer_config.json (plain file names only). */
  tokenizerFiles?: Readonly<Record<string, Uint8Array | string>>;
  /** Written as generation_config.json when given. */
  generationConfig?: Record<string, unknown> | null;
  /** Shard the weights (model-0000i-of-0000n.safetensors + index) above this many bytes; default one file. */
  maxShardBytes?: number;
}

const RESERVED = new Set(['config.json', 'generation_config.json', SINGLE_WEIGHTS_FILE, SHARDED_INDEX_FILE]);

function saveError(message: string, details: Record<string, unknown>): PeftkitError {
  return new PeftkitError('PEFTKIT_E_MODEL_SAVE', message, details);
}

/**
 * The base weights in Hugging Face names, float32, in checkpoint layout. Tied weights appear once (the model's
 * parameters() lists them once), so a tied lm_head is not written, as HF's save_pretrained does. A linear site
 * whose base was swapped (e.g. quantized) is written from its effective weight.
 */
export function modelTensors(model: ModelGraph): TensorToWrite[] {
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, variable] of model.parameters()) {
    if (variable.isDisposed) throw saveError(`parameter '${name}' is disposed`, { tensor: name });
    tensors.set(name, {
      name,
      dtype: 'F32',
      shape: [...variable.shape],
      data: (variable.dataSync() as Float32Array).slice(),
    });
  }
  for (const site of model.sites()) {
    if (site.kind !== 'linear' || site.base instanceof DenseLinearBase) continue;
    const outIn = site.base.weightOutIn();
    const [rows, cols] = outIn.shape;
    const values = (outIn.dataSync() as Float32Array).slice();
    outIn.dispose();
    // Conv1D checkpoints store [in, out]: transpose on the host (no tf handle needed here).
    const data = site.layout === 'out_in' ? values : transposeHost(values, rows, cols);
    const shape = site.layout === 'out_in' ? [rows, cols] : [cols, rows];
    tensors.set(`${site.name}.weight`, { name: `${site.name}.weight`, dtype: 'F32', shape, data });
    const bias = site.base.bias;
    if (bias)
      tensors.set(`${site.name}.bias`, {
        name: `${site.name}.bias`,
        dtype: 'F32',
        shape: [...bias.shape],
        data: (bias.dataSync() as Float32Array).slice(),
      });
  }
  return [...tensors.values()];
}

function transposeHost(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] as number;
  return out;
}

function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
}

async function removeIfPresent(path: string): Promise<void> {
  await unlink(path).catch((error: unknown) => {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
  });
}

/**
 * Writes a Hugging Face model directory (config.json, model.safetensors or shards, extra files). Files are
 * replaced atomically; the entry point of the other weight layout is removed so loaders never read stale weights.
 * Loading it back gives bit-identical weights.
 */
export async function saveModel(
  model: ModelGraph,
  dir: string,
  options: SaveModelOptions,
): Promise<{ files: string[] }> {
  for (const name of Object.keys(options.tokenizerFiles ?? {})) {
    if (
      name.length === 0 ||
      name === '.' ||
      name === '..' ||
      basename(name) !== name ||
      /[/\\:\0]/.test(name) ||
      RESERVED.has(name)
    ) {
      throw saveError(`'${name}' is not a plain, unreserved file name`, { file: name });
    }
  }
  const tensors = modelTensors(model);
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const metadata = { format: 'pt' };
  if (options.maxShardBytes === undefined) {
    await writeSafetensorsFile(join(dir, SINGLE_WEIGHTS_FILE), tensors, metadata);
    await removeIfPresent(join(dir, SHARDED_INDEX_FILE));
    files.push(SINGLE_WEIGHTS_FILE);
  } else {
    const written = await writeShardedSafetensors(dir, tensors, { maxShardBytes: options.maxShardBytes, metadata });
    await removeIfPresent(join(dir, SINGLE_WEIGHTS_FILE));
    files.push(...written.shards, SHARDED_INDEX_FILE);
  }
  await atomicWriteFile(join(dir, 'config.json'), jsonBytes(options.config));
  files.push('config.json');
  if (options.generationConfig) {
    await atomicWriteFile(join(dir, 'generation_config.json'), jsonBytes(options.generationConfig));
    files.push('generation_config.json');
  }
  for (const [name, content] of Object.entries(options.tokenizerFiles ?? {})) {
    await atomicWriteFile(join(dir, name), typeof content === 'string' ? new TextEncoder().encode(content) : content);
    files.push(name);
  }
  return { files };
}
