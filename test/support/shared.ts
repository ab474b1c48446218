/**
 * Access to the workplace's shared/ folder (real models and data kept beside the repository, never inside it).
 * Absent files skip the test with a visible message, except in CI (CI=true), where they must be there.
 */
import { existsSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

// test/support/ -> repository root -> its parent, where shared/ sits.
const SHARED_ROOT = new URL('../../../shared/', import.meta.url);

/** Absolute path of `shared/<rel>`, or undefined when it does not exist. */
export function sharedPath(rel: string): string | undefined {
  const path = fileURLToPath(new URL(rel, SHARED_ROOT));
  return existsSync(path) ? path : undefined;
}

/** The subset of node:test's TestContext used here (also what Deno and Bun provide). */
export interface SkippableContext {
  skip(message?: string): void;
}

/**
 * Returns the path of `shared/<rel>`; when absent, skips `t` (printing why, since Deno's reporter hides skip
 * messages) and returns undefined, or throws under CI. Callers: `const p = requireShared(t, 'x'); if (!p) return;`
 */
export function requireShared(t: SkippableContext, rel: string): string | undefined {
  const path = sharedPath(rel);
  if (path !== undefined) return path;
  const where = fileURLToPath(new URL(rel, SHARED_ROOT));
  if (process.env.CI === 'true') throw new Error(`shared file missing in CI: ${where}`);
  const message = `shared file absent, skipping: ${where}`;
  console.warn(`[skip] ${message}`);
  t.skip(message);
  return undefined;
}
