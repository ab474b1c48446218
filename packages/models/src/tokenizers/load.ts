import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeftkitError } from '@peftkit/io';
import { HfTokenizer } from './hf.ts';
import { Llama2cTokenizer } from './llama2c.ts';
import type { Tokenizer } from '@peftkit/core';

/** File names inside a model directory. `tokenizer.bin` is our name for a llama2.c-format tokenizer (tok*.bin). */
export const HF_TOKENIZER_FILE = 'tokenizer.json';
export const HF_TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const LLAMA2C_TOKENIZER_FILE = 'tokenizer.bin';

export interface LoadTokenizerOptions {
  /** Which file wins when a directory holds both. Default 'json' (what Hugging Face tools read). */
  prefer?: 'json' | 'bin';
  /** Passed to the llama2.c parser: the model's vocab size, checked against the file. */
  vocabSize?: number;
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new PeftkitError(
      'PEFTKIT_E_TOKENIZER_READ',
      `cannot read ${path}: ${String(error)}`,
      { path },
      { cause: error },
    );
  }
}

function parseJson(bytes: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new PeftkitError('PEFTKIT_E_TOKENIZER_INVALID', `${path} is not valid JSON`, { path }, { cause });
  }
}

/**
 * Loads the tokenizer of a model directory: `tokenizer.json` (+ `tokenizer_config.json` when present) through
 * `@huggingface/tokenizers`, or `tokenizer.bin` in llama2.c format.
 */
export async function loadTokenizer(dir: string | URL, options: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  const root = dir instanceof URL ? fileURLToPath(dir) : dir;
  const jsonPath = join(root, HF_TOKENIZER_FILE);
  const binPath = join(root, LLAMA2C_TOKENIZER_FILE);
  const order = options.prefer === 'bin' ? (['bin', 'json'] as const) : (['json', 'bin'] as const);
  for (const kind of order) {
    if (kind === 'json') {
      const json = await readOptional(jsonPath);
      if (json === undefined) continue;
      const configPath = join(root, HF_TOKENIZER_CONFIG_FILE);
      const config = await readOptional(configPath);
      return new HfTokenizer(parseJson(json, jsonPath), config === undefined ? {} : parseJson(config, configPath));
    }
    const bin = await readOptional(binPath);
    if (bin === undefined) continue;
    return Llama2cTokenizer.fromBytes(bin, options.vocabSize === undefined ? {} : { vocabSize: options.vocabSize });
  }
  throw new PeftkitError(
    'PEFTKIT_E_TOKENIZER_NOT_FOUND',
    `no ${HF_TOKENIZER_FILE} or ${LLAMA2C_TOKENIZER_FILE} in ${root}`,
    { dir: root },
  );
}
