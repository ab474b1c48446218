import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { PeftkitError } from '@peftkit/io';
import { type FetchedFile, type FileProgress, fetchFile } from './fetch-file.ts';
import {
  checkEndpoint,
  checkRepo,
  checkRepoFile,
  checkRevision,
  DEFAULT_HUB_ENDPOINT,
  type FetchLike,
  getFollowing,
  listingUrl,
  resolveUrl,
  statusError,
} from './request.ts';

export interface HubOptions {
  /** `owner/name` of a model repository. */
  repo: string;
  /** Branch, tag or commit. Default 'main'. */
  revision?: string;
  /** Default https://huggingface.co (the CLI also reads HF_ENDPOINT). */
  endpoint?: string;
  /** Hugging Face access token, sent as `Authorization: Bearer` to the endpoint's origin only. */
  token?: string;
  /** Replaces the global fetch (tests, proxies). */
  fetch?: FetchLike;
  signal?: AbortSignal;
}

export interface DownloadModelOptions extends HubOptions {
  /** Files to fetch; default: every file of the revision (listed through the Hub API). */
  files?: readonly string[];
  /** Destination folder; repository paths are kept (`sub/x.json` → `<dir>/sub/x.json`). */
  dir: string;
  /** Re-download files that already exist in `dir`. Default false: an existing file is kept as it is. */
  force?: boolean;
  /** Reconnections per file after a dropped transfer (each resumes with a Range request). Default 5. */
  retries?: number;
  onProgress?: (progress: FileProgress) => void;
}

export interface DownloadedFile extends Partial<FetchedFile> {
  file: string;
  path: string;
  /** True when the file was already in `dir` and nothing was fetched. */
  cached: boolean;
}

export interface DownloadModelResult {
  dir: string;
  files: DownloadedFile[];
}

const siblingsSchema = z.object({ siblings: z.array(z.object({ rfilename: z.string() })) });

function settings(options: HubOptions) {
  const fetchFn = options.fetch ?? ((input: string, init: RequestInit) => fetch(input, init));
  return {
    repo: checkRepo(options.repo),
    revision: checkRevision(options.revision ?? 'main'),
    endpoint: checkEndpoint(options.endpoint ?? DEFAULT_HUB_ENDPOINT),
    token: options.token === undefined || options.token === '' ? undefined : options.token,
    fetch: fetchFn,
    signal: options.signal,
  };
}

/**
 * Names of every file in a repository revision, from `{endpoint}/api/models/{repo}/revision/{revision}` (`siblings`).
 */
export async function listRepoFiles(options: HubOptions): Promise<string[]> {
  const s = settings(options);
  const url = listingUrl(s.endpoint, s.repo, s.revision);
  let followed: Awaited<ReturnType<typeof getFollowing>>;
  try {
    followed = await getFollowing(s.fetch, url, { accept: 'application/json' }, s.token, s.signal);
  } catch (cause) {
    if (cause instanceof PeftkitError) throw cause;
    throw new PeftkitError(
      'PEFTKIT_E_HUB_NETWORK',
      `list ${s.repo}: request failed (${String(cause)})`,
      { url },
      { cause },
    );
  }
  const { response, url: finalUrl } = followed;
  if (response.status !== 200) throw await statusError(response, finalUrl, `list ${s.repo}@${s.revision}`);
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    throw new PeftkitError('PEFTKIT_E_HUB_HTTP', `list ${s.repo}: the listing is not JSON`, { url }, { cause });
  }
  const parsed = siblingsSchema.safeParse(body);
  if (!parsed.success)
    throw new PeftkitError('PEFTKIT_E_HUB_HTTP', `list ${s.repo}: the listing has no valid 'siblings' array`, { url });
  return parsed.data.siblings.map((sibling) => checkRepoFile(sibling.rfilename));
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Downloads files of a Hugging Face model repository into `dir` from `{endpoint}/{repo}/resolve/{revision}/{file}`.
 * Each file is written to `<file>.incomplete`, resumed with Range requests after an interruption (also across
 * runs), checked against the sha256 the Hub announces for LFS files (`X-Linked-Etag` / a 64-hex ETag) or else
 * against the announced size, and renamed into place only when complete and verified.
 */
export async function downloadModel(options: DownloadModelOptions): Promise<DownloadModelResult> {
  const s = settings(options);
  if (typeof options.dir !== 'string' || options.dir === '')
    throw new PeftkitError('PEFTKIT_E_HUB_BAD_INPUT', 'dir is required', {});
  const retries = options.retries ?? 5;
  if (!Number.isInteger(retries) || retries < 0)
    throw new PeftkitError('PEFTKIT_E_HUB_BAD_INPUT', `retries must be a non-negative integer`, { retries });
  const files = options.files === undefined ? await listRepoFiles(options) : options.files.map(checkRepoFile);
  if (new Set(files).size !== files.length)
    throw new PeftkitError('PEFTKIT_E_HUB_BAD_INPUT', 'files lists a name twice', { files });
  const dir = resolve(options.dir);
  const result: DownloadedFile[] = [];
  for (const file of files) {
    const path = join(dir, ...file.split('/'));
    if (!options.force && (await isFile(path))) {
      result.push({ file, path, cached: true });
      continue;
    }
    const fetched = await fetchFile({
      fetch: s.fetch,
      url: resolveUrl(s.endpoint, s.repo, s.revision, file),
      file,
      target: path,
      token: s.token,
      retries,
      signal: s.signal,
      onProgress: options.onProgress,
    });
    result.push({ file, path, cached: false, ...fetched });
  }
  return { dir, files: result };
}
