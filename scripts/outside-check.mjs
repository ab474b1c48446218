#!/usr/bin/env node
// "peftkit outside this repository": packs every published package, installs the tarballs together into a fresh npm
// project in a temporary directory (registry dependencies from npm), then checks what a user would do there:
//   (a) `npx peftkit --help` (and `--version` / `doctor` when the CLI has them),
//   (b) a plain .mjs under `node` (no loader): LoRA on the embedded model, save, reload in a fresh kernel, same greedy
//       text, (c) the same .mjs under Deno and Bun.
// Usage: node scripts/outside-check.mjs [--no-build] [--keep]   (--no-build: dist/ is already fresh, as in CI)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOrder } from './build.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = new Set(process.argv.slice(2));
const results = [];
const started = Date.now();

function run(command, argv, options = {}) {
  const r = spawnSync(command, argv, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, timeout: 600_000, ...options });
  return {
    status: r.status ?? r.signal ?? r.error?.message,
    out: `${r.stdout ?? ''}${r.stderr ?? ''}`,
    stdout: r.stdout ?? '',
  };
}

function record(name, ok, detail = '') {
  results.push({ name, ok });
  console.log(`${ok === 'skip' ? 'SKIP' : ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}

/** Runs a step that must succeed before the checks can go on; prints its output and stops the script otherwise. */
function must(name, command, argv, options) {
  const r = run(command, argv, options);
  if (r.status !== 0) {
    console.log(r.out);
    record(name, false, `exit ${r.status}`);
    finish(undefined);
  }
  return r;
}

function finish(dir) {
  const failed = results.filter((r) => r.ok === false).length;
  const passed = results.filter((r) => r.ok === true).length;
  const skipped = results.filter((r) => r.ok === 'skip').length;
  if (dir !== undefined && !args.has('--keep')) rmSync(dir, { recursive: true, force: true });
  else if (dir !== undefined) console.log(`kept ${dir}`);
  console.log(`\noutside-check: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}

const dirs = buildOrder();
if (!args.has('--no-build'))
  must('build (npm run build)', process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
for (const dir of dirs) {
  if (!existsSync(join(root, dir, 'dist', 'index.js'))) record(`dist present: ${dir}`, false, 'run npm run build');
}
if (results.some((r) => r.ok === false)) finish(undefined);

const tmp = mkdtempSync(join(tmpdir(), 'peftkit-outside-'));
const packs = join(tmp, 'packs');
const project = join(tmp, 'project');
mkdirSync(packs);
mkdirSync(project);

// 1. One tarball per package, then one `npm install` of all of them so @peftkit/* resolve to these tarballs.
const workspaces = dirs.flatMap((d) => ['-w', d]);
const packed = must('npm pack', 'npm', ['pack', '--json', '--pack-destination', packs, ...workspaces], { cwd: root });
const tarballs = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))).map((p) => join(packs, p.filename));
record('npm pack', tarballs.length === dirs.length, `${tarballs.length} tarballs in ${packs}`);
must('npm init -y', 'npm', ['init', '-y'], { cwd: project });
const install = must(
  'npm install <tarballs>',
  'npm',
  ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs],
  { cwd: project },
);
record('npm install <tarballs>', true, install.out.split('\n').find((l) => /added \d+ packages?/.test(l)) ?? '');
// Plain node must be enough: nothing may pull in a TypeScript loader.
record('no tsx installed (plain node runs dist/)', !existsSync(join(project, 'node_modules', 'tsx')));

// 2a. The CLI through npx.
const help = run('npx', ['--no-install', 'peftkit', '--help'], { cwd: project });
record('(a) npx peftkit --help', help.status === 0 && help.out.includes('Usage: peftkit'), help.out.split('\n')[0]);
const version = JSON.parse(readFileSync(join(root, 'app', 'package.json'), 'utf8')).version;
if (help.out.includes('--version')) {
  const v = run('npx', ['--no-install', 'peftkit', '--version'], { cwd: project });
  record('(a) npx peftkit --version', v.status === 0 && v.out.includes(version), v.out.trim().split('\n')[0]);
} else record('(a) npx peftkit --version', 'skip', 'the CLI has no --version yet');
if (/^\s+doctor\b/m.test(help.out)) {
  const d = run('npx', ['--no-install', 'peftkit', 'doctor'], { cwd: project });
  record('(a) npx peftkit doctor', d.status === 0, d.status === 0 ? '' : d.out.slice(-2000));
} else record('(a) npx peftkit doctor', 'skip', "the CLI has no 'doctor' command yet");

// The server's engine runs in a worker thread: its module URLs must point into dist/ too.
const port = await new Promise((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});
mkdirSync(join(project, 'adapters'));
const model = join(project, 'node_modules', 'peftkit', 'assets', 'peftkit-moby');
const server = spawn(
  'npx',
  ['--no-install', 'peftkit', 'serve', '--model', model, '--adapters', 'adapters', '--port', String(port)],
  {
    cwd: project,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: npx, node and the worker all end with it
  },
);
let serverLog = '';
for (const stream of [server.stdout, server.stderr]) {
  stream.on('data', (d) => {
    serverLog += d;
  });
}
let completion;
for (let i = 0; i < 60 && completion === undefined && server.exitCode === null; i++) {
  await new Promise((r) => setTimeout(r, 1000));
  completion = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'peftkit-moby', prompt: 'Call me', max_tokens: 5, temperature: 0 }),
  })
    .then((r) => r.json())
    .catch(() => undefined);
}
process.kill(-server.pid, 'SIGTERM');
const text = completion?.choices?.[0]?.text;
record(
  '(a) npx peftkit serve + POST /v1/completions',
  typeof text === 'string' && text.length > 0,
  text === undefined ? `${JSON.stringify(completion)} ${serverLog.slice(-2000)}` : JSON.stringify(text),
);

// 2b/2c. One user script, three runtimes.
const script = join(project, 'lora-roundtrip.mjs');
writeFileSync(script, readFileSync(join(root, 'scripts', 'outside-roundtrip.mjs'), 'utf8'));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const runtimes = [
  ['(b) node lora-roundtrip.mjs (no loader)', process.execPath, [script]],
  ['(c) deno run -A lora-roundtrip.mjs', bin('deno'), ['run', '-A', script]],
  ['(c) bun lora-roundtrip.mjs', bin('bun'), [script]],
];
// The checkout's conditions must not leak in: this is a user's project.
const env = { ...process.env, NODE_OPTIONS: '', DENO_CONDITIONS: '' };
for (const [name, command, argv] of runtimes) {
  const r = run(command, argv, { cwd: project, env });
  const line = r.out.split('\n').find((l) => l.startsWith('roundtrip:'));
  record(name, r.status === 0 && line?.includes('ok') === true, line ?? r.out.slice(-3000));
}
finish(tmp);
