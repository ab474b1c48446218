/**
 * Reading adapter directories for the server, where every file comes from an untrusted adapter root: each opened
 * file (not only its directory) must resolve inside the root, sizes are checked before anything is read, parse
 * errors never echo file contents or absolute paths, and NaN / Inf tensors are refused before a plugin sees them.
 */
import { type FileHandle, open, readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { decodeAdapter, disposeSaved, PeftkitError, type SavedAdapter, type Tf } from '@peftkit/core';
import { confinedAdapterDir } from './paths.ts';

export const CONFIG_FILE = 'adapter_config.json';
const WEIGHT_FILES = ['adapter_model.safetensors', 'adapter.safetensors'];
/** Adapter configs are a few hundred bytes; a 60 MB one once took the worker's heap down. */
export const MAX_CONFIG_BYTES = 1 << 20;
/** The most one read can return (Node buffers, V8 strings); larger files are refused, never attempted. */
export const MAX_READ_BYTES = 2 ** 31 - 1;

export interface AdapterFileLimits {
  /** Largest weights file read (bytes); bigger ones are refused before reading. */
  maxWeightBytes: number;
}

const inside = (root: string, real: string) => {
  const rel = relative(root, real);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
};

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/**
 * Opens `dir/file` after checking that its real path lies inside `realRoot`, and reads it when it is at most
 * `cap` bytes. `shown` is the client-facing name (relative to the root) used in every message.
 */
async function readConfined(
  realRoot: string,
  dir: string,
  file: string,
  shown: string,
  cap: number,
): Promise<Uint8Array> {
  let real: string;
  try {
    real = await realpath(join(dir, file));
  } catch {
    throw new PeftkitError('PEFTKIT_E_ADAPTER_NOT_FOUND', `no ${file} in adapter '${shown}'`, { path: shown });
  }
  // A file-level symlink may point anywhere (/etc/passwd, another user's files): only the root is served.
  if (!inside(realRoot, real))
    throw new PeftkitError('PEFTKIT_E_ADAPTER_PATH', `${shown}/${file} links outside the adapter root`, {
      path: shown,
    });
  let handle: FileHandle;
  try {
    handle = await open(real, 'r');
  } catch {
    throw new PeftkitError('PEFTKIT_E_ADAPTER_NOT_FOUND', `${shown}/${file} cannot be opened`, { path: shown });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new PeftkitError('PEFTKIT_E_ADAPTER_FORMAT', `${shown}/${file} is not a regular file`, { path: shown });
    // Checked on the open handle, so a file swapped after realpath is still measured, and before any byte is read.
    if (info.size > cap) {
      throw new PeftkitError(
        'PEFTKIT_E_ADAPTER_TOO_LARGE',
        `${shown}/${file} has ${info.size} bytes; this server reads at most ${cap}`,
        {
          path: shown,
          bytes: info.size,
          limit: cap,
        },
      );
    }
    const bytes = await handle.readFile();
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } finally {
    await handle.close();
  }
}

/** Parses the config without ever quoting it: a parser message would echo the file (`root:x:0:0…`). */
function parseConfig(bytes: Uint8Array, shown: string): { text: string; config: Record<string, unknown> } {
  let value: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    value = JSON.parse(text);
  } catch {
    throw new PeftkitError('PEFTKIT_E_ADAPTER_CONFIG', `${shown}/${CONFIG_FILE} is not valid UTF-8 JSON`, {
      path: shown,
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PeftkitError('PEFTKIT_E_ADAPTER_CONFIG', `${shown}/${CONFIG_FILE} must hold a JSON object`, {
      path: shown,
    });
  }
  return { text, config: value as Record<string, unknown> };
}

/** Throws PEFTKIT_E_ADAPTER_NONFINITE when a float tensor holds NaN or ±Inf (they turn every answer into NULs). */
export function assertFiniteTensors(tensors: SavedAdapter['tensors'], what: string): void {
  for (const [name, tensor] of Object.entries(tensors)) {
    if (tensor.dtype !== 'float32') continue;
    const values = tensor.dataSync() as Float32Array;
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i] as number)) {
        throw new PeftkitError('PEFTKIT_E_ADAPTER_NONFINITE', `${what}: tensor '${name}' holds NaN or Inf`, {
          tensor: name,
        });
      }
    }
  }
}

/** Highest LoRA-style rank a config declares (`r` and `rank_pattern`), or null when it declares none. */
export function configRank(config: Record<string, unknown>): number | null {
  const ranks: number[] = [];
  if (typeof config.r === 'number') ranks.push(config.r);
  const pattern = config.rank_pattern;
  if (pattern !== null && typeof pattern === 'object')
    for (const v of Object.values(pattern)) if (typeof v === 'number') ranks.push(v);
  return ranks.length > 0 ? Math.max(...ranks) : null;
}

/**
 * Reads the adapter at `path` (relative to `root`) confined to the root, file by file. The caller disposes the
 * returned tensors. Messages name `path` as the client gave it, never a server path.
 */
export async function readAdapterConfined(
  tf: Tf,
  root: string,
  path: string,
  limits: AdapterFileLimits,
): Promise<SavedAdapter> {
  const dir = await confinedAdapterDir(root, path);
  const realRoot = await realpath(root);
  const { text } = parseConfig(await readConfined(realRoot, dir, CONFIG_FILE, path, MAX_CONFIG_BYTES), path);
  let weightsFile: string | undefined;
  for (const name of WEIGHT_FILES) {
    if (await isFile(join(dir, name))) {
      weightsFile = name;
      break;
    }
  }
  if (weightsFile === undefined) {
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_NOT_FOUND',
      `no adapter weights (${WEIGHT_FILES.join(' or ')}) in adapter '${path}'`,
      { path },
    );
  }
  const weights = await readConfined(realRoot, dir, weightsFile, path, Math.min(limits.maxWeightBytes, MAX_READ_BYTES));
  let saved: SavedAdapter;
  try {
    saved = decodeAdapter(tf, text, weights, { config: CONFIG_FILE, weights: weightsFile });
  } catch (error) {
    if (!(error instanceof PeftkitError)) throw error;
    const message = error.message.startsWith(`${error.code}: `)
      ? error.message.slice(error.code.length + 2)
      : error.message;
    throw new PeftkitError(error.code, `${path}/${weightsFile}: ${message}`, { path });
  }
  try {
    assertFiniteTensors(saved.tensors, `${path}/${weightsFile}`);
  } catch (error) {
    disposeSaved(saved);
    throw error;
  }
  return saved;
}

/** Sub-directories of the root that hold an adapter config (what `available` lists); never throws. */
export async function listAdapterDirs(root: string): Promise<string[]> {
  try {
    const entries = await readdir(root, { withFileTypes: true });
    const dirs = entries.filter((d) => d.isDirectory()).map((d) => d.name);
    const found = await Promise.all(
      dirs.map(async (name) => ((await isFile(join(root, name, CONFIG_FILE))) ? name : null)),
    );
    return found.filter((n): n is string => n !== null).sort();
  } catch {
    return [];
  }
}
