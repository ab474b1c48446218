import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import { atomicWriteFile } from '@peftkit/io';
import { decodeTensor, parseSafetensors, serializeSafetensors, type TensorToWrite } from '@peftkit/io';
import type { SavedAdapter } from '../plugin/contract.ts';
import type { Tf } from '../runtime/types.ts';

export const DEFAULT_CONFIG_FILE = 'adapter_config.json';
export const DEFAULT_WEIGHTS_FILE = 'adapter_model.safetensors';
/**
 * Weight-file names of the formats peftkit reads, in order of preference: PEFT's, then AdapterHub's safetensors name
 * (adapters' `SAFE_WEIGHTS_NAME`; its pickle is `WEIGHTS_NAME` = pytorch_adapter.bin).
 */
const WEIGHT_FILES = [DEFAULT_WEIGHTS_FILE, 'adapter.safetensors'];
const PICKLE_FILES = ['adapter_model.bin', 'pytorch_adapter.bin'];

/** JSON with keys sorted at every level and 2-space indent, like PEFT's `json.dumps(sort_keys=True, indent=2)`. */
export function sortedJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 2);
}

/** Encodes a saved adapter: config text and safetensors bytes (metadata `{"format":"pt"}` as PEFT writes). */
export function encodeAdapter(saved: SavedAdapter): { config: string; weights: Uint8Array } {
  const tensors: TensorToWrite[] = Object.entries(saved.tensors).map(([name, t]) => tensorToWrite(name, t));
  return { config: `${sortedJson(saved.config)}\n`, weights: serializeSafetensors(tensors, { format: 'pt' }) };
}

function tensorToWrite(name: string, t: Tensor): TensorToWrite {
  const data = t.dataSync();
  if (t.dtype === 'float32') return { name, dtype: 'F32', shape: t.shape, data: data as Float32Array };
  if (t.dtype === 'int32') return { name, dtype: 'I32', shape: t.shape, data: data as Int32Array };
  if (t.dtype === 'bool') return { name, dtype: 'BOOL', shape: t.shape, data: data as Uint8Array };
  throw new PeftkitError('PEFTKIT_E_ADAPTER_DTYPE', `cannot save tensor '${name}' of dtype ${t.dtype}`, {
    tensor: name,
  });
}

/** Decodes config text and safetensors bytes into a SavedAdapter whose tensors the caller must dispose. */
export function decodeAdapter(
  tf: Tf,
  configText: string,
  weights: Uint8Array,
  files?: SavedAdapter['files'],
): SavedAdapter {
  let config: unknown;
  try {
    config = JSON.parse(configText);
  } catch (error) {
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_CONFIG',
      `adapter config is not valid JSON: ${(error as Error).message}`,
      {},
    );
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new PeftkitError('PEFTKIT_E_ADAPTER_CONFIG', 'adapter config must be a JSON object', {});
  }
  const file = parseSafetensors(weights);
  const tensors: Record<string, Tensor> = {};
  for (const [name, entry] of file.tensors) {
    const decoded = decodeTensor(entry);
    tensors[name] = tf.tensor(decoded.values, decoded.shape, decoded.dtype);
  }
  return files
    ? { config: config as Record<string, unknown>, tensors, files }
    : { config: config as Record<string, unknown>, tensors };
}

/** Writes an adapter directory atomically file by file (config last, so a half-written dir has no config). */
export async function writeAdapterDir(dir: string, saved: SavedAdapter): Promise<void> {
  const { config, weights } = encodeAdapter(saved);
  await mkdir(dir, { recursive: true });
  await atomicWriteFile(join(dir, saved.files?.weights ?? DEFAULT_WEIGHTS_FILE), weights);
  await atomicWriteFile(join(dir, saved.files?.config ?? DEFAULT_CONFIG_FILE), new TextEncoder().encode(config));
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Reads an adapter directory (PEFT or AdapterHub layout). */
export async function readAdapterDir(tf: Tf, dir: string): Promise<SavedAdapter> {
  const configPath = join(dir, DEFAULT_CONFIG_FILE);
  if (!(await exists(configPath))) {
    // a model directory (e.g. what `train --method full` writes) is a common mix-up: say what to do with it
    const model = (await exists(join(dir, 'config.json')))
      ? ': it is a model directory (config.json), e.g. the output of full fine-tuning; ' +
        'use it as the model (--model), not as an adapter'
      : '';
    throw new PeftkitError('PEFTKIT_E_ADAPTER_NOT_FOUND', `no ${DEFAULT_CONFIG_FILE} in '${dir}'${model}`, { dir });
  }
  let weightsFile: string | undefined;
  for (const name of WEIGHT_FILES) {
    if (await exists(join(dir, name))) {
      weightsFile = name;
      break;
    }
  }
  if (weightsFile === undefined) {
    // PEFT's adapter_model.bin and AdapterHub's pytorch_adapter.bin are torch pickles, which peftkit does not execute
    const pickle = (await Promise.all(PICKLE_FILES.map((n) => exists(join(dir, n))))).findIndex(Boolean);
    const hint =
      pickle === -1
        ? ''
        : `: ${PICKLE_FILES[pickle]} is a PyTorch pickle, which is not read; re-save it as safetensors (PEFT: ` +
          'save_pretrained(safe_serialization=True), AdapterHub: save_adapter(..., use_safetensors=True))';
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_NOT_FOUND',
      `no adapter weights (${WEIGHT_FILES.join(' or ')}) in '${dir}'${hint}`,
      { dir },
    );
  }
  const weightsPath = join(dir, weightsFile);
  const [configText, weights] = await Promise.all([readFile(configPath, 'utf8'), readFile(weightsPath)]);
  try {
    return decodeAdapter(tf, configText, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), {
      config: DEFAULT_CONFIG_FILE,
      weights: weightsFile,
    });
  } catch (error) {
    // name the file that is wrong: the config's errors are PEFTKIT_E_ADAPTER_CONFIG, the rest come from the weights
    if (!(error instanceof PeftkitError)) throw error;
    const path = error.code === 'PEFTKIT_E_ADAPTER_CONFIG' ? configPath : weightsPath;
    const message = error.message.startsWith(`${error.code}: `)
      ? error.message.slice(error.code.length + 2)
      : error.message;
    throw new PeftkitError(error.code, `${path}: ${message}`, { ...error.details, path }, { cause: error });
  }
}

export function disposeSaved(saved: SavedAdapter): void {
  for (const t of Object.values(saved.tensors)) t.dispose();
}
