import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { PeftkitError } from './errors.ts';
import { type AtomicWriteHooks, atomicWriteFile } from './atomic-write.ts';
import { IO_ERROR_CODES, readFileBytes } from './file-bytes.ts';
import { scanJson } from './json-scan.ts';
import { type TensorToWrite, type TensorsToWrite, serializeSafetensors } from './safetensors-encode.ts';
import { readSafetensorsFile } from './safetensors-files.ts';
import {
  type SafetensorsTensor,
  SAFETENSORS_ERROR_CODES as E,
  MAX_HEADER_BYTES,
  checkedByteSize,
  dtypeSize,
  isSafetensorsDtype,
  isShape,
  stError,
} from './safetensors-types.ts';

export const SINGLE_WEIGHTS_FILE = 'model.safetensors';
export const SHARDED_INDEX_FILE = 'model.safetensors.index.json';

export interface ShardedSafetensors {
  /** The index's "metadata" object (e.g. total_size), values as found. */
  metadata: Record<string, unknown>;
  tensors: Map<string, SafetensorsTensor>;
  /** Shard basenames, sorted. */
  shards: string[];
}

export interface ModelWeights extends ShardedSafetensors {
  kind: 'single' | 'sharded';
}

export interface ShardedWriteOptions {
  /** A shard is closed before it would exceed this many data bytes; a larger tensor gets its own shard. */
  maxShardBytes: number;
  /** `__metadata__` written into every shard. */
  metadata?: Record<string, string>;
  /** Shard file prefix, default "model" (model-00001-of-00002.safetensors). */
  prefix?: string;
  hooks?: AtomicWriteHooks;
}

const MAX_INDEX_DEPTH = 16;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNotFound(error: unknown): boolean {
  return error instanceof PeftkitError && error.code === IO_ERROR_CODES.NOT_FOUND;
}

/** Reads `model.safetensors.index.json` in `dir` and every shard it names, checking each tensor's shard. */
export async function readShardedSafetensors(dir: string): Promise<ShardedSafetensors> {
  const indexPath = join(dir, SHARDED_INDEX_FILE);
  return loadShards(dir, await readFileBytes(indexPath, { maxBytes: MAX_HEADER_BYTES }), indexPath);
}

/** `model.safetensors` when present, else the sharded index; NOT_FOUND when neither exists. */
export async function readModelWeights(dir: string): Promise<ModelWeights> {
  try {
    const file = await readSafetensorsFile(join(dir, SINGLE_WEIGHTS_FILE));
    return { kind: 'single', metadata: file.metadata, tensors: file.tensors, shards: [SINGLE_WEIGHTS_FILE] };
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const indexPath = join(dir, SHARDED_INDEX_FILE);
  let indexBytes: Uint8Array;
  try {
    indexBytes = await readFileBytes(indexPath, { maxBytes: MAX_HEADER_BYTES });
  } catch (error) {
    if (!isNotFound(error)) throw error;
    throw stError(E.NOT_FOUND, `${dir} has neither ${SINGLE_WEIGHTS_FILE} nor ${SHARDED_INDEX_FILE}`, { dir });
  }
  return { kind: 'sharded', ...(await loadShards(dir, indexBytes, indexPath)) };
}

async function loadShards(dir: string, indexBytes: Uint8Array, indexPath: string): Promise<ShardedSafetensors> {
  const { metadata, weightMap } = parseIndex(indexBytes, indexPath);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of weightMap) {
    checkShardName(dir, shard);
    const names = byShard.get(shard) ?? [];
    names.push(name);
    byShard.set(shard, names);
  }
  const shards = [...byShard.keys()].sort();
  const tensors = new Map<string, SafetensorsTensor>();
  for (const shard of shards) {
    const file = await readSafetensorsFile(join(dir, shard));
    for (const [name, tensor] of file.tensors) {
      if (weightMap.get(name) !== shard) {
        throw stError(E.SHARD_MISMATCH, `${shard} holds "${name}", which the index does not map to it`, {
          shard,
          name,
        });
      }
      tensors.set(name, tensor);
    }
    for (const name of byShard.get(shard) ?? []) {
      if (!file.tensors.has(name)) {
        throw stError(E.SHARD_MISMATCH, `index maps "${name}" to ${shard}, which lacks it`, { shard, name });
      }
    }
  }
  return { metadata, tensors, shards };
}

function parseIndex(
  bytes: Uint8Array,
  path: string,
): { metadata: Record<string, unknown>; weightMap: Map<string, string> } {
  const fail = (message: string) => stError(E.INDEX, `${path}: ${message}`, { path });
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw fail('not valid UTF-8');
  }
  const scan = scanJson(text, MAX_INDEX_DEPTH);
  if (scan.tooDeep) throw fail(`JSON nests deeper than ${MAX_INDEX_DEPTH}`);
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch {
    throw fail('not valid JSON');
  }
  if (scan.duplicate !== undefined) {
    throw stError(E.DUPLICATE, `${path}: duplicate key "${scan.duplicate.slice(0, 200)}"`, { path });
  }
  if (!isPlainObject(index) || !isPlainObject(index.weight_map)) throw fail('"weight_map" object missing');
  const metadata = index.metadata ?? {};
  if (!isPlainObject(metadata)) throw fail('"metadata" is not an object');
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(index.weight_map)) {
    if (typeof shard !== 'string') throw fail(`shard of "${name}" is not a string`);
    weightMap.set(name, shard);
  }
  return { metadata: Object.fromEntries(Object.entries(metadata)), weightMap };
}

/** Shard names must be plain basenames resolving inside `dir`: no separators, `..`, drives or absolute paths. */
function checkShardName(dir: string, shard: string): void {
  const root = resolve(dir);
  const plain =
    shard.length > 0 &&
    shard.length <= 255 &&
    shard !== '.' &&
    shard !== '..' &&
    !/[/\\:\0]/.test(shard) &&
    !isAbsolute(shard) &&
    basename(shard) === shard &&
    shard.endsWith('.safetensors') &&
    dirname(resolve(root, shard)) === root;
  if (!plain) {
    throw stError(E.INDEX_PATH, `shard file "${shard.slice(0, 200)}" is not a plain file name inside ${root}`, {
      shard: shard.slice(0, 200),
    });
  }
}

/**
 * Writes shards greedily in input order plus the index. Every shard is serialized (and so validated)
 * before anything is written; each file is replaced atomically and the index goes last, so readers
 * never see an index naming shards that are not complete. Stale shards of an older layout are left.
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: TensorsToWrite,
  options: ShardedWriteOptions,
): Promise<{ shards: string[]; index: string }> {
  const { maxShardBytes, metadata, prefix = 'model', hooks } = options;
  if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes <= 0) {
    throw stError(E.WRITE_INPUT, 'maxShardBytes must be a positive integer', { maxShardBytes });
  }
  if (prefix.length === 0 || /[/\\:\0]/.test(prefix) || prefix.startsWith('.')) {
    throw stError(E.WRITE_INPUT, 'prefix must be a plain file name', { prefix });
  }
  const list: TensorToWrite[] =
    tensors instanceof Map ? [...tensors].map(([name, t]) => ({ ...t, name })) : [...(tensors as TensorToWrite[])];
  const groups: TensorToWrite[][] = [];
  const seen = new Set<string>();
  let current: TensorToWrite[] = [];
  let currentBytes = 0;
  let totalSize = 0;
  for (const tensor of list) {
    if (seen.has(tensor.name))
      throw stError(E.DUPLICATE, `duplicate tensor name "${tensor.name}"`, { name: tensor.name });
    seen.add(tensor.name);
    const size = byteSizeOf(tensor);
    if (current.length > 0 && currentBytes + size > maxShardBytes) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(tensor);
    currentBytes += size;
    totalSize += size;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);

  const pad = (n: number) => String(n).padStart(5, '0');
  const names = groups.map((_, i) => `${prefix}-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`);
  const files = groups.map((group) => serializeSafetensors(group, metadata));
  // Entries array + fromEntries: a tensor named "__proto__" stays an ordinary key.
  const weightMap = groups.flatMap((group, i) => group.map((t): [string, string] => [t.name, names[i] as string]));
  weightMap.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const sortedMap = Object.fromEntries(weightMap);
  const indexJson = `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sortedMap }, null, 2)}\n`;

  for (let i = 0; i < files.length; i++) {
    await atomicWriteFile(join(dir, names[i] as string), files[i] as Uint8Array, hooks);
  }
  const index = join(dir, SHARDED_INDEX_FILE);
  await atomicWriteFile(index, new TextEncoder().encode(indexJson), hooks);
  return { shards: names, index };
}

/** Data bytes of a tensor for shard planning; invalid input counts 0 and is rejected by the serializer. */
function byteSizeOf(tensor: TensorToWrite): number {
  if (!isSafetensorsDtype(tensor.dtype) || !isShape([...tensor.shape])) return 0;
  return checkedByteSize(tensor.shape, dtypeSize(tensor.dtype)) ?? 0;
}
