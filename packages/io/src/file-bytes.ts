import { open } from 'node:fs/promises';
import { PeftkitError } from './errors.ts';

/**
 * Filesystem error codes shared by the io helpers (content errors have their own codes):
 * PEFTKIT_E_IO_NOT_FOUND       path does not exist
 * PEFTKIT_E_IO_READ            any other read failure (cause attached)
 * PEFTKIT_E_IO_FILE_TOO_LARGE  file larger than the caller's limit or than one typed array can hold
 * PEFTKIT_E_IO_WRITE           atomic write failed; the previous file, if any, is untouched
 */
export const IO_ERROR_CODES = {
  NOT_FOUND: 'PEFTKIT_E_IO_NOT_FOUND',
  READ: 'PEFTKIT_E_IO_READ',
  FILE_TOO_LARGE: 'PEFTKIT_E_IO_FILE_TOO_LARGE',
  WRITE: 'PEFTKIT_E_IO_WRITE',
} as const;

/** Reads stay below the 2 GiB per-call limit some runtimes have. */
const CHUNK_BYTES = 64 * 1024 * 1024;

export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function ioError(code: string, message: string, path: string, cause: unknown): PeftkitError {
  return new PeftkitError(code, message, { path, errno: errnoCode(cause) }, { cause });
}

/** Whole file as one Uint8Array, sized from the file's real length (never from its contents). */
export async function readFileBytes(path: string, options: { maxBytes?: number } = {}): Promise<Uint8Array> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const notFound = errnoCode(error) === 'ENOENT';
    throw ioError(notFound ? IO_ERROR_CODES.NOT_FOUND : IO_ERROR_CODES.READ, `cannot open ${path}`, path, error);
  }
  try {
    const size = (await handle.stat()).size;
    if (options.maxBytes !== undefined && size > options.maxBytes) {
      throw new PeftkitError(IO_ERROR_CODES.FILE_TOO_LARGE, `${path} exceeds ${options.maxBytes} bytes`, {
        path,
        size,
      });
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(size);
    } catch (error) {
      throw ioError(IO_ERROR_CODES.FILE_TOO_LARGE, `${path} (${size} bytes) does not fit in memory`, path, error);
    }
    let filled = 0;
    while (filled < size) {
      const length = Math.min(CHUNK_BYTES, size - filled);
      const { bytesRead } = await handle.read(bytes, filled, length, filled);
      if (bytesRead === 0) break; // file shrank while reading: the parser reports the truncation
      filled += bytesRead;
    }
    return filled === size ? bytes : bytes.subarray(0, filled);
  } catch (error) {
    if (error instanceof PeftkitError) throw error;
    throw ioError(IO_ERROR_CODES.READ, `cannot read ${path}`, path, error);
  } finally {
    await handle.close().catch(() => undefined);
  }
}
