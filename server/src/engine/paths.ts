import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { PeftkitError } from '@peftkit/core';

import { isValidAdapterName } from './names.ts';

export { isValidAdapterName };

export function assertPublicName(name: string): void {
  if (!isValidAdapterName(name)) {
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_NAME',
      `invalid adapter name '${name}': use 1-96 letters, digits, '.', '_' or '-', ` +
        `starting with a letter or digit, without '..'`,
      { adapter: name },
    );
  }
}

const outsideRoot = (path: string) =>
  new PeftkitError('PEFTKIT_E_ADAPTER_PATH', `adapter path '${path}' is outside the adapter root`, { path });

/**
 * Resolves `path` (relative to `root`) to a real directory inside the root. Rejects absolute paths, `..` segments,
 * percent-encoded escapes and symlinks that lead out of the root.
 */
export async function confinedAdapterDir(root: string, path: string): Promise<string> {
  let decoded = path;
  try {
    // Clients sometimes send paths URL-encoded; decode (twice catches %252e) before judging them.
    decoded = decodeURIComponent(decodeURIComponent(path));
  } catch {
    throw outsideRoot(path);
  }
  if (decoded === '' || isAbsolute(decoded) || /^[A-Za-z]:/.test(decoded) || decoded.includes('\0'))
    throw outsideRoot(path);
  if (decoded.split(/[\\/]/).some((segment) => segment === '..')) throw outsideRoot(path);
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    // a missing root is the server's problem, not the client's: answer like a missing adapter, without server paths
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_NOT_FOUND',
      `no adapter directory '${path}' (the server's adapter root is missing)`,
      { path },
    );
  }
  const candidate = resolve(realRoot, decoded);
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw new PeftkitError('PEFTKIT_E_ADAPTER_NOT_FOUND', `no adapter directory '${path}' under the adapter root`, {
      path,
    });
  }
  const rel = relative(realRoot, real);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) throw outsideRoot(path);
  if (!(await stat(real)).isDirectory()) {
    throw new PeftkitError('PEFTKIT_E_ADAPTER_NOT_FOUND', `adapter path '${path}' is not a directory`, { path });
  }
  return real;
}
