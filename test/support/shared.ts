/**
 * Test data kept inside the repository (test/fixtures/), so a fresh clone runs every test with nothing beside it.
 * Nothing here reads the workplace's ../shared folder: it is absent on users' clones, where a test needing it would
 * have to skip. A missing fixture is a broken checkout, so it fails the test instead of skipping it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FIXTURES = new URL('../fixtures/', import.meta.url);

/** Absolute path of `test/fixtures/<rel>`; throws when it is missing (fixtures are committed, never optional). */
export function fixturePath(rel: string): string {
  const path = fileURLToPath(new URL(rel, FIXTURES));
  if (!existsSync(path))
    throw new Error(`test fixture missing: ${path} (committed to the repository; is the checkout complete?)`);
  return path;
}

/** The vendored stories260K checkpoint (llama2.c format) and its tokenizer; see test/fixtures/stories260K/README.md. */
export function stories260KFiles(): { model: string; tokenizer: string } {
  return { model: fixturePath('stories260K/stories260K.bin'), tokenizer: fixturePath('stories260K/tok512.bin') };
}

/** Sizes and sha256 of the vendored files, as published upstream (checked by test/fixtures-stories260k.test.ts). */
export const STORIES260K_DIGESTS: Readonly<Record<string, { bytes: number; sha256: string }>> = {
  'stories260K/stories260K.bin': {
    bytes: 1_056_540,
    sha256: 'b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696',
  },
  'stories260K/tok512.bin': {
    bytes: 6_227,
    sha256: '037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312',
  },
};

/** The subset of node:test's TestContext used by test helpers (also what Deno and Bun provide). */
export interface SkippableContext {
  skip(message?: string): void;
}
