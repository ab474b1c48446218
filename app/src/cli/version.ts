import { readFileSync } from 'node:fs';
import { PLUGIN_API_VERSION } from '@peftkit/core';

/** The `peftkit` package's version, read from its package.json (next to src/ and dist/ alike). */
export function appVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `peftkit --version`: the app's version and the plugin API version plugins declare a range of. */
export function versionText(): string {
  return `peftkit ${appVersion()} (plugin API ${PLUGIN_API_VERSION})`;
}
