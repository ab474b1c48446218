#!/usr/bin/env node
// Runs the same node:test files under Node (tsx), Deno and Bun and prints one summary line per runtime
// plus a total. Usage: node scripts/test-all.mjs [node] [deno] [bun] [-- file-filter]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const dash = args.indexOf('--');
const runtimes = (dash === -1 ? args : args.slice(0, dash)).filter(Boolean);
const filter = dash === -1 ? undefined : args[dash + 1];
const selected = runtimes.length > 0 ? runtimes : (process.env.PEFTKIT_TEST_RUNTIMES ?? 'node,deno,bun').split(',');

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.ts')) out.push(`./${relative(root, path)}`);
  }
  return out;
}

const files = ['test', 'plugins', 'server', 'core', 'packages', 'app', 'adapters']
  .flatMap((d) => {
    try {
      return findTests(join(root, d));
    } catch {
      return [];
    }
  })
  .filter((f) => filter === undefined || f.includes(filter))
  .sort();

const bin = (name) => join(root, 'node_modules', '.bin', name);
const commands = {
  node: [process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files]],
  deno: [bin('deno'), ['test', '-A', '--no-check', ...files]],
  bun: [bin('bun'), ['test', '--timeout', '120000', ...files]],
};

const ESC = String.fromCharCode(27);
const stripAnsi = (text) =>
  text
    .split(ESC)
    .map((part, i) => (i === 0 ? part : part.replace(/^\[[0-9;]*m/, '')))
    .join('');

// Each runtime prints its own closing counts in its own format; read them back for the summary.
const parsers = {
  node: (out) => [Number(/^# pass (\d+)/m.exec(out)?.[1] ?? Number.NaN), Number(/^# fail (\d+)/m.exec(out)?.[1] ?? Number.NaN)],
  deno: (out) => {
    const m = /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(stripAnsi(out));
    return m ? [Number(m[1]), Number(m[2])] : [Number.NaN, Number.NaN];
  },
  bun: (out) => [Number(/^\s*(\d+) pass$/m.exec(out)?.[1] ?? Number.NaN), Number(/^\s*(\d+) fail$/m.exec(out)?.[1] ?? Number.NaN)],
};

console.log(`peftkit tests: ${files.length} files under ${selected.join(', ')}`);
let total = [0, 0];
let failedRuntime = false;
const lines = [];
for (const runtime of selected) {
  const command = commands[runtime];
  if (!command) {
    console.error(`unknown runtime '${runtime}'`);
    process.exit(2);
  }
  console.log(`\n===== ${runtime} =====`);
  const started = Date.now();
  const result = spawnSync(command[0], command[1], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    maxBuffer: 256 * 1024 * 1024,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  process.stdout.write(output);
  const [pass, fail] = parsers[runtime](output);
  const ok = result.status === 0 && Number.isFinite(pass) && fail === 0;
  if (!ok) failedRuntime = true;
  lines.push(`${runtime}: ${pass} passed, ${fail} failed (exit ${result.status ?? result.signal}, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  total = [total[0] + (Number.isFinite(pass) ? pass : 0), total[1] + (Number.isFinite(fail) ? fail : 1)];
}
console.log('\n===== summary =====');
for (const line of lines) console.log(line);
console.log(`${total[0]} passed, ${total[1]} failed`);
process.exit(failedRuntime ? 1 : 0);
