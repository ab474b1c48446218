#!/usr/bin/env node
// Runs the same node:test files under Node (tsx), Deno and Bun, one runtime after the other, streaming each one's
// output as it arrives, then prints passed / failed / skipped per runtime and a closing total line
// `N passed, N failed, N skipped` (CI reads that last line). Exits non-zero when a runtime fails, exits non-zero
// or prints counts that cannot be read. Usage: node scripts/test-all.mjs [node] [deno] [bun] [-- file-filter]
import { spawn } from 'node:child_process';
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
// Tests run against the sources, never a (possibly stale) dist/: every package's exports list the `peftkit:source`
// condition first. NODE_OPTIONS carries it to node child processes (any runtime's) and worker threads; Deno reads
// DENO_CONDITIONS, Bun takes the flag.
const SOURCE = 'peftkit:source';
const sourceEnv = {
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --conditions=${SOURCE}`.trim(),
  DENO_CONDITIONS: [process.env.DENO_CONDITIONS, SOURCE].filter(Boolean).join(','),
};
const commands = {
  node: [process.execPath, [`--conditions=${SOURCE}`, '--import', 'tsx', '--test', '--test-concurrency=2', ...files]],
  deno: [bin('deno'), ['test', '-A', '--no-check', `--conditions=${SOURCE}`, ...files]],
  bun: [bin('bun'), ['test', `--conditions=${SOURCE}`, '--timeout', '120000', ...files]],
};

const ESC = String.fromCharCode(27);
const stripAnsi = (text) =>
  text
    .split(ESC)
    .map((part, i) => (i === 0 ? part : part.replace(/^\[[0-9;]*m/, '')))
    .join('');

const count = (re, text, fallback = Number.NaN) => {
  const m = re.exec(text);
  return m ? Number(m[1]) : fallback;
};

/**
 * Deno's `describe` blocks, counted by result: a header line `name ...` followed by a deeper-indented step line,
 * closed later by `name ... ok|FAILED` at the same indentation. Node and Bun do not count suites as tests.
 */
function denoSuites(all) {
  // Captured console output (`------- output -------` … `----- output end -----`) may sit between the lines.
  let inOutput = false;
  const lines = all.filter((line) => {
    if (/^-+ (?:post-test )?output(?: end)? -+$/.test(line)) inOutput = !line.includes(' end ');
    else if (!inOutput) return true;
    return false;
  });
  const open = new Map();
  const done = { ok: 0, FAILED: 0, ignored: 0 };
  lines.forEach((line, i) => {
    const header = /^(\s*)(.+) \.\.\.$/.exec(line);
    const next = /^(\s*)\S/.exec(lines[i + 1] ?? '');
    if (header && next && next[1].length > header[1].length) {
      const key = `${header[1]}${header[2]}`;
      open.set(key, (open.get(key) ?? 0) + 1);
      return;
    }
    const result = /^(\s*)(.+) \.\.\. (ok|FAILED|ignored)\b/.exec(line);
    const key = result && `${result[1]}${result[2]}`;
    if (key && (open.get(key) ?? 0) > 0) {
      open.set(key, open.get(key) - 1);
      done[result[3]]++;
    }
  });
  return done;
}

/** Deno's closing line, e.g. `ok | 3 passed (2 steps) | 1 failed | 2 ignored (1 step) (9ms)`: tests + steps (`it`s). */
function denoCounts(text) {
  const line = /^(?:ok|FAILED) \|.*$/m.exec(text)?.[0];
  if (line === undefined) return { passed: Number.NaN, failed: Number.NaN, skipped: Number.NaN };
  const part = (word) => {
    const m = new RegExp(`(\\d+) ${word}(?: \\((\\d+) steps?\\))?`).exec(line);
    return m ? Number(m[1]) + Number(m[2] ?? 0) : 0;
  };
  const suites = denoSuites(text.split('\n'));
  return { passed: part('passed') - suites.ok, failed: part('failed') - suites.FAILED, skipped: part('ignored') };
}

// Each runtime prints its own closing counts in its own format; read them back for the summary.
const parsers = {
  // Cancelled tests (a timeout, a file that crashed mid-run) are failures too.
  node: (out) => ({
    passed: count(/^# pass (\d+)/m, out),
    failed: count(/^# fail (\d+)/m, out) + count(/^# cancelled (\d+)/m, out, 0),
    skipped: count(/^# skipped (\d+)/m, out),
  }),
  deno: (out) => {
    const text = stripAnsi(out);
    const counts = denoCounts(text);
    // Deno reports a t.skip() call as passed; tests that skip at run time print `[skip] why` first (the declarative
    // `{ skip }` option is reported as ignored by every runtime and needs nothing here).
    const marked = text.match(/^\[skip\] /gm)?.length ?? 0;
    const moved = Math.min(marked, Number.isFinite(counts.passed) ? counts.passed : 0);
    return { ...counts, passed: counts.passed - moved, skipped: counts.skipped + moved };
  },
  // Bun prints `N skip` only when there are some; errors between tests count as failures.
  bun: (out) => ({
    passed: count(/^\s*(\d+) pass$/m, out),
    failed: count(/^\s*(\d+) fail$/m, out) + count(/^\s*(\d+) errors?$/m, out, 0),
    skipped: count(/^\s*(\d+) skip$/m, out, 0),
  }),
};

/**
 * The failing tests' names (and, for Node's TAP, the error lines under each), repeated in the summary: CI shows only
 * the end of a long log, where a bare "1 failed" would not say which test it was.
 */
const failures = {
  node: (out) => {
    const lines = out.split('\n');
    const found = [];
    lines.forEach((line, i) => {
      const m = /^(\s*)not ok \d+ - (.+)$/.exec(line);
      if (!m) return;
      const detail = [];
      for (let j = i + 1; j < lines.length && detail.length < 8; j++) {
        const text = lines[j].trim();
        if (text === '...' || /^(?:not )?ok \d+/.test(text)) break;
        if (/^(?:error|code|expected|actual|location|failureType):/.test(text)) detail.push(text.slice(0, 300));
      }
      found.push([`${m[1]}${m[2]}`, ...detail.map((d) => `${m[1]}    ${d}`)].join('\n'));
    });
    return found;
  },
  deno: (out) => [...stripAnsi(out).matchAll(/^(\s*.+) \.\.\. FAILED\b.*$/gm)].map((m) => m[1]),
  bun: (out) => [...out.matchAll(/^\(fail\) (.+)$/gm)].map((m) => m[1]),
};

/** Runs a command, copying its output to ours as it arrives, and resolves with the output kept for parsing. */
function run(runtime, command, commandArgs) {
  // Plain text to parse. Deno takes any FORCE_COLOR, even 0, as "colour on", so it only gets NO_COLOR.
  const env = { ...process.env, ...sourceEnv, FORCE_COLOR: '0', NO_COLOR: '1' };
  if (runtime === 'deno') delete env.FORCE_COLOR;
  return new Promise((resolve) => {
    const child = spawn(command, commandArgs, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      stdout.push(chunk);
    });
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk);
      stderr.push(chunk);
    });
    let spawnError;
    child.on('error', (error) => {
      spawnError = error;
    });
    // Kept apart so that a stderr chunk cannot split a stdout summary line.
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        spawnError,
        output: `${Buffer.concat(stdout).toString('utf8')}\n${Buffer.concat(stderr).toString('utf8')}`,
      }),
    );
  });
}

const unknown = selected.filter((r) => !commands[r]);
if (unknown.length > 0) {
  console.error(`unknown runtime(s): ${unknown.join(', ')} (expected node, deno, bun)`);
  process.exit(2);
}
if (files.length === 0) {
  console.error(`no test files match '${filter}'`);
  process.exit(2);
}

console.log(`peftkit tests: ${files.length} files under ${selected.join(', ')}`);
const total = { passed: 0, failed: 0, skipped: 0 };
let failedRuntime = false;
const lines = [];
const failedNames = [];
for (const runtime of selected) {
  const [command, commandArgs] = commands[runtime];
  console.log(`\n===== ${runtime} =====`);
  const started = Date.now();
  const result = await run(runtime, command, commandArgs);
  if (result.spawnError) console.error(`${runtime}: could not start ${command}: ${result.spawnError.message}`);
  const c = parsers[runtime](result.output);
  const readable = [c.passed, c.failed, c.skipped].every(Number.isFinite);
  const ok = result.code === 0 && readable && c.failed === 0;
  if (!ok) failedRuntime = true;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const note = readable ? '' : ', counts unreadable';
  lines.push(
    `${runtime}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped (exit ${result.code ?? result.signal}, ` +
      `${seconds} s${note})${ok ? '' : ' FAILED'}`,
  );
  if (!ok) for (const name of failures[runtime](result.output)) failedNames.push(`${runtime}: ${name}`);
  total.passed += Number.isFinite(c.passed) ? c.passed : 0;
  // An unreadable or failing run counts at least one failure, so the closing line never reads as a clean pass.
  total.failed += ok ? 0 : Math.max(1, Number.isFinite(c.failed) ? c.failed : 1);
  total.skipped += Number.isFinite(c.skipped) ? c.skipped : 0;
}
if (failedNames.length > 0) {
  console.log('\n===== failures =====');
  for (const name of failedNames) console.log(name);
}
console.log('\n===== summary =====');
for (const line of lines) console.log(line);
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(failedRuntime ? 1 : 0);
