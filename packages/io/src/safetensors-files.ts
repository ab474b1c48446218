import { PeftkitError } from './errors.ts';
import { type AtomicWriteHooks, atomicWriteFile } from './atomic-write.ts';
import { readFileBytes } from './file-bytes.ts';
import { type TensorsToWrite, serializeSafetensors } from './safetensors-encode.ts';
import { parseSafetensors } from './safetensors-parse.ts';
import type { SafetensorsFile } from './safetensors-types.ts';

/** Reads and strictly parses one file; content errors keep their code and gain `details.path`. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const bytes = await readFileBytes(path);
  try {
    return parseSafetensors(bytes);
  } catch (error) {
    if (!(error instanceof PeftkitError)) throw error;
    const message = error.message.startsWith(`${error.code}: `)
      ? error.message.slice(error.code.length + 2)
      : error.message;
    throw new PeftkitError(error.code, `${path}: ${message}`, { ...error.details, path }, { cause: error });
  }
}

/** Serializes, then atomically replaces `path` (see atomicWriteFile). */
export async function writeSafetensorsFile(
  path: string,
  tensors: TensorsToWrite,
  metadata?: Record<string, string>,
  hooks?: AtomicWriteHooks,
): Promise<void> {
  await atomicWriteFile(path, serializeSafetensors(tensors, metadata), hooks);
}
