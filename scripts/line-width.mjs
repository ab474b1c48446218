#!/usr/bin/env node
// Lines of at most 120 columns (the developers' guide) in every tracked TypeScript and JavaScript file. Biome's
// formatter wraps code at 120 but leaves long strings and comments alone: this catches those.
// Usage: node scripts/line-width.mjs [max]   (exit 1 and one line per offender when any line is longer)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const max = Number(process.argv[2] ?? 120);
const files = execFileSync('git', ['ls-files', '*.ts', '*.mjs', '*.js'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && !f.startsWith('app/assets/'));
const long = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(`${root}${file}`, 'utf8');
  } catch {
    continue; // deleted in the work tree, not yet in the index
  }
  text.split('\n').forEach((line, i) => {
    // columns as an editor counts them: code points, not UTF-16 units
    const width = [...line].length;
    if (width > max) long.push(`${file}:${i + 1}: ${width} columns`);
  });
}
for (const line of long) console.log(line);
if (long.length > 0) {
  console.error(`${long.length} line(s) over ${max} columns`);
  process.exit(1);
}
console.log(`line width: ${files.length} files, every line ≤ ${max} columns`);
