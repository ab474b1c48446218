import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PeftkitError } from '@peftkit/io';
import { type FetchLike, type FollowedResponse, getFollowing, isSha256, statusError } from './request.ts';

export interface FileProgress {
  file: string;
  /** Bytes of this file on disk so far (resumed bytes included). */
  received: number;
  /** Expected size when the server said, else undefined. */
  total: number | undefined;
}

export interface FetchFileOptions {
  fetch: FetchLike;
  url: string;
  /** Repository name of the file, for messages and progress. */
  file: string;
  target: string;
  token: string | undefined;
  retries: number;
  signal: AbortSignal | undefined;
  onProgress: ((progress: FileProgress) => void) | undefined;
}

export interface FetchedFile {
  size: number;
  /** sha256 of the content (always computed). */
  sha256: string;
  /** What the content was checked against: the server's sha256, its announced size, or nothing it announced. */
  verified: 'sha256' | 'size' | 'none';
  /** Bytes that were already in `<target>.incomplete` and reused. */
  resumedFrom: number;
}

const INCOMPLETE = '.incomplete';

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Feeds the first `length` bytes already on disk into the hash, so a resumed file is still hashed whole. */
async function hashExisting(hash: Hash, path: string, length: number): Promise<void> {
  if (length === 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: length - 1 })) hash.update(chunk as Uint8Array);
}

/** Parses `bytes start-end/total`. */
function contentRange(value: string | null): { start: number; total: number | undefined } | undefined {
  const m = value === null ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim());
  if (m === null) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

class Interrupted extends Error {}

/**
 * Downloads one file into `<target>.incomplete`, resuming with a Range request after a dropped connection (up to
 * `retries` times) or from an earlier run's partial file, verifies it, then renames it onto `target`.
 */
export async function fetchFile(options: FetchFileOptions): Promise<FetchedFile> {
  const partial = options.target + INCOMPLETE;
  await mkdir(dirname(options.target), { recursive: true });
  const resumedFrom = await sizeOf(partial);
  let expectedSha: string | undefined;
  let expectedSize: number | undefined;
  let lastError: unknown;
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    let offset = await sizeOf(partial);
    let followed: FollowedResponse;
    try {
      const headers: Record<string, string> = { 'accept-encoding': 'identity' };
      if (offset > 0) headers.range = `bytes=${offset}-`;
      followed = await getFollowing(options.fetch, options.url, headers, options.token, options.signal);
    } catch (error) {
      if (error instanceof PeftkitError || options.signal?.aborted) throw error;
      lastError = error;
      continue;
    }
    const { response } = followed;
    if (response.status === 416 && offset > 0) {
      // The partial file is as long as (or longer than) the remote one: start over.
      await response.body?.cancel().catch(() => undefined);
      await unlink(partial).catch(() => undefined);
      lastError = new Error('HTTP 416 on resume');
      continue;
    }
    if (response.status !== 200 && response.status !== 206)
      throw await statusError(response, followed.url, `download ${options.file}`);
    const range = contentRange(response.headers.get('content-range'));
    if (response.status === 200 || range?.start !== offset) {
      // The server ignored the Range header (or answered another one): the body is the whole file.
      if (offset > 0 && response.status === 206) {
        await response.body?.cancel().catch(() => undefined);
        await unlink(partial).catch(() => undefined);
        lastError = new Error(`server answered range ${String(range?.start)} for ${offset}`);
        continue;
      }
      offset = 0;
    }
    const etag =
      followed.linkedEtag ?? (response.headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '').toLowerCase();
    if (isSha256(etag)) expectedSha = etag;
    const length = Number(response.headers.get('content-length') ?? Number.NaN);
    const bodyLength = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
    expectedSize =
      followed.linkedSize ?? range?.total ?? (bodyLength === undefined ? expectedSize : offset + bodyLength);
    try {
      await appendBody(response, partial, offset, bodyLength, expectedSize, options);
    } catch (error) {
      if (error instanceof PeftkitError || options.signal?.aborted) throw error;
      lastError = error;
      continue;
    }
    return finish(partial, options, expectedSha, expectedSize, resumedFrom);
  }
  throw new PeftkitError(
    'PEFTKIT_E_HUB_NETWORK',
    `download ${options.file}: failed after ${options.retries + 1} attempts (${String(lastError)}); ` +
      'the partial file is kept for resuming',
    { file: options.file, url: options.url, partial },
    { cause: lastError },
  );
}

async function appendBody(
  response: Response,
  partial: string,
  offset: number,
  bodyLength: number | undefined,
  total: number | undefined,
  options: FetchFileOptions,
): Promise<void> {
  const handle = await open(partial, offset === 0 ? 'w' : 'a');
  let received = 0;
  try {
    if (response.body !== null) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        await handle.write(chunk);
        received += chunk.byteLength;
        options.onProgress?.({ file: options.file, received: offset + received, total });
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  // Some runtimes end a dropped body quietly instead of throwing: a short body is an interruption too.
  if (bodyLength !== undefined && received < bodyLength)
    throw new Interrupted(`connection closed after ${received} of ${bodyLength} bytes`);
}

async function finish(
  partial: string,
  options: FetchFileOptions,
  expectedSha: string | undefined,
  expectedSize: number | undefined,
  resumedFrom: number,
): Promise<FetchedFile> {
  const size = await sizeOf(partial);
  const hash = createHash('sha256');
  await hashExisting(hash, partial, size);
  const sha256 = hash.digest('hex');
  const mismatch = (what: string, expected: unknown, actual: unknown) =>
    new PeftkitError(
      'PEFTKIT_E_HUB_CHECKSUM',
      `download ${options.file}: ${what} mismatch (expected ${String(expected)}, got ${String(actual)})`,
      {
        file: options.file,
        expected,
        actual,
      },
    );
  if (expectedSize !== undefined && size !== expectedSize) {
    await unlink(partial).catch(() => undefined);
    throw mismatch('size', expectedSize, size);
  }
  if (expectedSha !== undefined && sha256 !== expectedSha) {
    await unlink(partial).catch(() => undefined);
    throw mismatch('sha256', expectedSha, sha256);
  }
  await rename(partial, options.target);
  return {
    size,
    sha256,
    verified: expectedSha !== undefined ? 'sha256' : expectedSize !== undefined ? 'size' : 'none',
    resumedFrom,
  };
}
