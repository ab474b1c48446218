import { randomUUID } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { IO_ERROR_CODES, errnoCode, ioError } from './file-bytes.ts';

/** Seams for tests that need a step to fail; production callers pass nothing. */
export interface AtomicWriteHooks {
  rename?: (from: string, to: string) => Promise<void>;
}

/** Runtimes or filesystems that cannot open or fsync a directory report one of these. */
const DIR_SYNC_UNSUPPORTED = new Set([
  'EISDIR',
  'EINVAL',
  'EPERM',
  'EACCES',
  'ENOTSUP',
  'EOPNOTSUPP',
  'EBADF',
  'ENOSYS',
]);

/**
 * Replaces `target` with `bytes` so that readers and crashes see either the old or the new file,
 * never a torn one: write a temporary file in the same directory (same filesystem), fsync it,
 * rename it over the target, then fsync the directory so the rename itself is durable.
 * On failure the temporary file is removed and PEFTKIT_E_IO_WRITE is thrown.
 */
export async function atomicWriteFile(target: string, bytes: Uint8Array, hooks: AtomicWriteHooks = {}): Promise<void> {
  const path = resolve(target);
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomUUID()}.tmp`);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(temp, 'wx');
    let written = 0;
    while (written < bytes.byteLength) {
      const { bytesWritten } = await handle.write(bytes, written, bytes.byteLength - written, written);
      if (bytesWritten <= 0) throw new Error('write made no progress');
      written += bytesWritten;
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await (hooks.rename ?? rename)(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw ioError(IO_ERROR_CODES.WRITE, `cannot write ${path}`, path, error);
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = errnoCode(error);
    // Errors without an errno code come from runtimes that cannot open directories at all.
    if (code !== undefined && !DIR_SYNC_UNSUPPORTED.has(code)) {
      throw ioError(IO_ERROR_CODES.WRITE, `cannot fsync directory ${dir}`, dir, error);
    }
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
