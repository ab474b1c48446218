import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isNonEmptyDir } from '@peftkit/models';
import { PeftkitError } from '@peftkit/io';
import { atomicWriteFile } from '@peftkit/io';
import { readFileBytes } from '@peftkit/io';
import { readModelWeights, type SafetensorsDtype, writeSafetensorsFile } from '@peftkit/io';
import { SHARDED_INDEX_FILE, SINGLE_WEIGHTS_FILE } from '@peftkit/io';

/** Loaded by dynamic import only: the core never imports plugins statically. */
const QLORA_SPECIFIER = '@peftkit/qlora';

type RawTensor = { readonly dtype: string; readonly shape: readonly number[]; readonly data: Uint8Array };
type ConvertCheckpoint = (
  tensors: ReadonlyMap<string, RawTensor>,
  config: Readonly<Record<string, unknown>>,
  options: { to: 'float' | 'nf4' | 'fp4' },
) => { tensors: Map<string, RawTensor>; config: Record<string, unknown>; dequantized: string[]; quantized: string[] };

export const BNB_TARGETS = ['float', 'nf4', 'fp4'] as const;

async function loadConverter(): Promise<ConvertCheckpoint> {
  let mod: { convertBnbCheckpoint?: unknown };
  try {
    mod = (await import(QLORA_SPECIFIER)) as { convertBnbCheckpoint?: unknown };
  } catch (cause) {
    throw new PeftkitError(
      'PEFTKIT_E_PLUGIN_IMPORT',
      `convert bnb needs ${QLORA_SPECIFIER}, which cannot be imported`,
      { specifier: QLORA_SPECIFIER },
      { cause },
    );
  }
  if (typeof mod.convertBnbCheckpoint !== 'function') {
    throw new PeftkitError('PEFTKIT_E_PLUGIN_IMPORT', `${QLORA_SPECIFIER} does not export convertBnbCheckpoint`, {
      specifier: QLORA_SPECIFIER,
    });
  }
  return mod.convertBnbCheckpoint as ConvertCheckpoint;
}

/**
 * `peftkit convert bnb --to float|nf4|fp4 <in-dir> --out <dir>`: rewrites a model directory's weights between float and
 * bitsandbytes 4-bit serialization (config.json's quantization_config follows); every other file is copied as is.
 */
export async function convertBnbDirectory(
  input: string,
  out: string,
  options: { to: (typeof BNB_TARGETS)[number]; overwrite: boolean },
) {
  if (resolve(input) === resolve(out))
    throw new PeftkitError('PEFTKIT_E_USAGE', 'convert bnb: --out must differ from the input directory', {
      command: 'convert',
    });
  if (!options.overwrite && (await isNonEmptyDir(out))) {
    throw new PeftkitError(
      'PEFTKIT_E_OUTPUT_EXISTS',
      `output directory '${out}' is not empty (pass --overwrite to replace its files)`,
      { dir: out },
    );
  }
  const convert = await loadConverter();
  const weights = await readModelWeights(input);
  const configPath = join(input, 'config.json');
  let config: unknown;
  try {
    config = JSON.parse(new TextDecoder().decode(await readFileBytes(configPath)));
  } catch (cause) {
    if (cause instanceof PeftkitError) throw cause;
    throw new PeftkitError(
      'PEFTKIT_E_MODEL_CONFIG',
      `${configPath} is not valid JSON`,
      { path: configPath },
      { cause },
    );
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new PeftkitError('PEFTKIT_E_MODEL_CONFIG', `${configPath} is not a JSON object`, { path: configPath });
  }
  await mkdir(out, { recursive: true });
  const result = convert(weights.tensors, config as Record<string, unknown>, { to: options.to });
  const tensors = new Map(
    [...result.tensors].map(([name, t]) => [
      name,
      { dtype: t.dtype as SafetensorsDtype, shape: t.shape, data: t.data },
    ]),
  );
  await writeSafetensorsFile(join(out, SINGLE_WEIGHTS_FILE), tensors, { format: 'pt' });
  await atomicWriteFile(
    join(out, 'config.json'),
    new TextEncoder().encode(`${JSON.stringify(result.config, null, 2)}\n`),
  );
  const skip = new Set([SINGLE_WEIGHTS_FILE, SHARDED_INDEX_FILE, 'config.json', ...weights.shards]);
  for (const name of await readdir(input)) {
    if (skip.has(name) || !(await stat(join(input, name))).isFile()) continue;
    await copyFile(join(input, name), join(out, name));
  }
  return { quantized: result.quantized.length, dequantized: result.dequantized.length };
}
