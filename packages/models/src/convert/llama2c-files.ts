import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PeftkitError } from '@peftkit/io';
import { atomicWriteFile } from '@peftkit/io';
import { readFileBytes } from '@peftkit/io';
import { writeSafetensorsFile } from '@peftkit/io';
import { Llama2cTokenizer } from '../tokenizers/llama2c.ts';
import { llama2cToHf, readLlama2cCheckpoint } from './llama2c.ts';

const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

/** True when a directory exists and holds at least one entry. */
export async function isNonEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0;
  } catch {
    return false;
  }
}

/**
 * `peftkit convert llama2c`: reads a llama2.c checkpoint and tokenizer and writes a Hugging Face Llama directory
 * (config.json, model.safetensors, tokenizer.json, tokenizer_config.json, generation_config.json).
 * Refuses to write into a non-empty directory unless `overwrite`.
 */
export async function convertLlama2cFiles(
  modelPath: string,
  tokenizerPath: string,
  outDir: string,
  options: { overwrite?: boolean } = {},
): Promise<{ parameters: number; files: string[] }> {
  if (!options.overwrite && (await isNonEmptyDir(outDir))) {
    throw new PeftkitError(
      'PEFTKIT_E_OUTPUT_EXISTS',
      `output directory '${outDir}' is not empty (pass --overwrite to replace its files)`,
      { dir: outDir },
    );
  }
  const checkpoint = readLlama2cCheckpoint(await readFileBytes(modelPath));
  const tokenizer = Llama2cTokenizer.fromBytes(await readFileBytes(tokenizerPath), {
    vocabSize: checkpoint.config.vocabSize,
  });
  const hf = llama2cToHf(checkpoint);
  await mkdir(outDir, { recursive: true });
  const tensors = [...hf.tensors].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.data }));
  await writeSafetensorsFile(join(outDir, 'model.safetensors'), tensors, { format: 'pt' });
  await atomicWriteFile(join(outDir, 'tokenizer.json'), json(tokenizer.toHfTokenizerJson()));
  await atomicWriteFile(join(outDir, 'tokenizer_config.json'), json(tokenizer.toHfTokenizerConfig()));
  await atomicWriteFile(
    join(outDir, 'generation_config.json'),
    json({ bos_token_id: hf.config.bos_token_id, eos_token_id: hf.config.eos_token_id }),
  );
  // config.json last: a directory without it is recognisably incomplete.
  await atomicWriteFile(join(outDir, 'config.json'), json(hf.config));
  const parameters = tensors.reduce((n, t) => n + t.data.length, 0);
  return {
    parameters,
    files: ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'],
  };
}
