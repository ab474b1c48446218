import { PeftkitError } from '@peftkit/io';

/**
 * HTTP plumbing shared by the hub downloads: URL building, input validation, redirects followed by hand (so the
 * `X-Linked-Etag` / `X-Linked-Size` headers of the Hub's first hop are seen and the token never leaves its
 * origin), and status → coded error mapping.
 *
 * Codes: PEFTKIT_E_HUB_BAD_INPUT (repo, revision, file name or endpoint malformed), PEFTKIT_E_HUB_AUTH (401/403),
 * PEFTKIT_E_HUB_NOT_FOUND (404), PEFTKIT_E_HUB_HTTP (any other unexpected status, too many redirects, a bad
 * listing), PEFTKIT_E_HUB_NETWORK (the connection failed after every retry), PEFTKIT_E_HUB_CHECKSUM (sha256 or
 * size differs from what the server announced).
 */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';
const MAX_REDIRECTS = 10;
const REPO_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

export function badInput(message: string, details: Record<string, unknown>): PeftkitError {
  return new PeftkitError('PEFTKIT_E_HUB_BAD_INPUT', message, details);
}

export function checkRepo(repo: unknown): string {
  if (typeof repo !== 'string' || !REPO_PATTERN.test(repo) || repo.includes('..')) {
    throw badInput(`repo must look like 'owner/name', got ${JSON.stringify(repo)}`, { repo });
  }
  return repo;
}

export function checkRevision(revision: unknown): string {
  if (typeof revision !== 'string' || revision === '' || revision.length > 256 || /[\s\\]|\.\./.test(revision)) {
    throw badInput(`revision must be a branch, tag or commit, got ${JSON.stringify(revision)}`, { revision });
  }
  return revision;
}

/**
 * A repository file name must stay inside the download folder: relative, '/'-separated, no '.', '..' or empty parts.
 */
export function checkRepoFile(file: unknown): string {
  const ok =
    typeof file === 'string' &&
    file.length > 0 &&
    file.length <= 1024 &&
    !file.includes('\\') &&
    !file.includes('\0') &&
    !/^[A-Za-z]:/.test(file) &&
    file.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
  if (!ok) throw badInput(`unsafe repository file name ${JSON.stringify(file)}`, { file });
  return file as string;
}

export function checkEndpoint(endpoint: unknown): string {
  let url: URL | undefined;
  try {
    url = typeof endpoint === 'string' ? new URL(endpoint) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw badInput(`endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`, { endpoint });
  }
  return url.href.replace(/\/+$/, '');
}

export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`;
}

export function listingUrl(endpoint: string, repo: string, revision: string): string {
  return `${endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
}

/** An ETag value without quotes and weak prefix, lower-cased. */
export function cleanEtag(value: string | null): string | undefined {
  if (value === null) return undefined;
  const v = value.trim().replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase();
  return v === '' ? undefined : v;
}

export const isSha256 = (value: string | undefined): value is string =>
  value !== undefined && /^[0-9a-f]{64}$/.test(value);

export interface FollowedResponse {
  response: Response;
  /** X-Linked-Etag of any hop (the Hub puts the LFS sha256 there, on its redirect). */
  linkedEtag: string | undefined;
  /** X-Linked-Size of any hop. */
  linkedSize: number | undefined;
  url: string;
}

/** Maps a final non-success status to a coded error (the body is drained so the connection can be reused). */
export async function statusError(response: Response, url: string, what: string): Promise<PeftkitError> {
  await response.body?.cancel().catch(() => undefined);
  const details = { url, status: response.status };
  if (response.status === 401 || response.status === 403) {
    return new PeftkitError(
      'PEFTKIT_E_HUB_AUTH',
      `${what}: HTTP ${response.status} (private or gated repo? pass a token / set HF_TOKEN)`,
      details,
    );
  }
  if (response.status === 404)
    return new PeftkitError('PEFTKIT_E_HUB_NOT_FOUND', `${what}: not found (HTTP 404) at ${url}`, details);
  return new PeftkitError('PEFTKIT_E_HUB_HTTP', `${what}: unexpected HTTP ${response.status} from ${url}`, details);
}

/**
 * GET with redirects followed by hand. The Authorization header goes only to the endpoint's own origin.
 * Network failures are thrown as they come (the caller decides whether to retry).
 */
export async function getFollowing(
  fetchFn: FetchLike,
  url: string,
  headers: Record<string, string>,
  token: string | undefined,
  signal: AbortSignal | undefined,
): Promise<FollowedResponse> {
  const origin = new URL(url).origin;
  let current = url;
  let linkedEtag: string | undefined;
  let linkedSize: number | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const hopHeaders: Record<string, string> = { ...headers };
    if (token !== undefined && new URL(current).origin === origin) hopHeaders.authorization = `Bearer ${token}`;
    const init: RequestInit = { headers: hopHeaders, redirect: 'manual' };
    if (signal !== undefined) init.signal = signal;
    const response = await fetchFn(current, init);
    linkedEtag ??= cleanEtag(response.headers.get('x-linked-etag'));
    const size = Number(response.headers.get('x-linked-size') ?? Number.NaN);
    if (linkedSize === undefined && Number.isSafeInteger(size) && size >= 0) linkedSize = size;
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel().catch(() => undefined);
      current = new URL(location, current).href;
      continue;
    }
    return { response, linkedEtag, linkedSize, url: current };
  }
  throw new PeftkitError('PEFTKIT_E_HUB_HTTP', `more than ${MAX_REDIRECTS} redirects from ${url}`, { url });
}
