#!/usr/bin/env node
// examples/ outside this repository: packs every published package and the third-party plugin example
// (examples/third-party-plugin → peftkit-plugin-ia3), installs the tarballs (plus `openai`) in a fresh npm project in a
// temporary directory whose workspaces are copies of examples/programmatic and examples/hono-mount (their "0.1.0"
// dependencies resolve to the tarballs), then runs:
//   (a) examples/programmatic under node (no loader), `deno run -A` and bun,
//   (b) examples/hono-mount under node,
//   (c) issue 14 acceptance (d): `npx peftkit train --plugin peftkit-plugin-ia3 --method ia3` twice (two versions),
//       `npx peftkit serve --plugin peftkit-plugin-ia3`, the openai client before and after `PUT /v1/adapters/ia3`
//       (scripts/outside-hotswap.mjs), then SIGTERM.
// Usage: node scripts/outside-examples.mjs [--no-build] [--keep]   (--no-build: dist/ is already fresh, as in CI)
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOrder } from './build.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = new Set(process.argv.slice(2));
const results = [];
const started = Date.now();
const WORKSPACES = ['programmatic', 'hono-mount'];

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
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
  return ok;
}

function finish(dir) {
  const failed = results.filter((r) => !r.ok).length;
  if (dir !== undefined && !args.has('--keep')) rmSync(dir, { recursive: true, force: true });
  else if (dir !== undefined) console.log(`kept ${dir}`);
  console.log(`\noutside-examples: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed > 0 || results.length === 0 ? 1 : 0);
}

/** A step the rest depends on: on failure, print its output and stop. */
function must(name, command, argv, options) {
  const r = run(command, argv, options);
  if (r.status !== 0) {
    console.log(r.out.slice(-4000));
    record(name, false, `exit ${r.status}`);
    finish(undefined);
  }
  return r;
}

/** Runs a command and passes when it exits 0 and prints `<tag>: ok`. */
function check(name, tag, command, argv, options) {
  const r = run(command, argv, options);
  const lines = r.out.split('\n').filter((l) => l.startsWith(`${tag}:`));
  const line = lines.find((l) => l.startsWith(`${tag}: ok`) || l.startsWith(`${tag}: FAILED`));
  for (const l of lines) if (l !== line) console.log(`     ${l}`); // what the example printed on the way
  return record(
    name,
    r.status === 0 && line?.startsWith(`${tag}: ok`) === true,
    r.status === 0 && line ? line : r.out.slice(-3000),
  );
}

const dirs = buildOrder();
if (!args.has('--no-build'))
  must('build (npm run build)', process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
for (const dir of dirs)
  if (!existsSync(join(root, dir, 'dist', 'index.js'))) record(`dist present: ${dir}`, false, 'run npm run build');
if (results.some((r) => !r.ok)) finish(undefined);

const tmp = mkdtempSync(join(tmpdir(), 'peftkit-examples-'));
const packs = join(tmp, 'packs');
const project = join(tmp, 'project');
mkdirSync(packs);
mkdirSync(project);

// 1. Tarballs: every workspace package, and the plugin from its own folder (it is no workspace of this repository).
const tarballsOf = (r) => JSON.parse(r.stdout.slice(r.stdout.indexOf('['))).map((p) => join(packs, p.filename));
const packed = tarballsOf(
  must('npm pack', 'npm', ['pack', '--json', '--pack-destination', packs, ...dirs.flatMap((d) => ['-w', d])], {
    cwd: root,
  }),
);
const plugin = tarballsOf(
  must('npm pack plugin', 'npm', ['pack', '--json', '--pack-destination', packs], {
    cwd: join(root, 'examples', 'third-party-plugin'),
  }),
);
record(
  'npm pack (packages + examples/third-party-plugin)',
  packed.length === dirs.length && plugin.length === 1,
  `${packed.length} + ${plugin.join(' ')}`,
);

// 2. A user's project: the examples as its workspaces, one install of all tarballs and the openai client.
for (const name of WORKSPACES) {
  cpSync(join(root, 'examples', name), join(project, 'examples', name), {
    recursive: true,
    filter: (src) => !src.includes('node_modules'),
  });
}
const manifest = {
  name: 'peftkit-examples-outside',
  private: true,
  type: 'module',
  workspaces: WORKSPACES.map((n) => `examples/${n}`),
};
writeFileSync(join(project, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
const openai = `openai@${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).devDependencies.openai}`;
const install = must(
  'npm install',
  'npm',
  ['install', '--no-audit', '--no-fund', '--prefer-offline', ...packed, ...plugin, openai],
  { cwd: project },
);
record('npm install <tarballs> openai', true, install.out.split('\n').find((l) => /added \d+ packages?/.test(l)) ?? '');
// The examples' "0.1.0" must have resolved to the packed tarballs, never to something of that name on a registry.
const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')).packages;
const ours = Object.entries(lock).filter(([path]) =>
  /node_modules\/(?:peftkit|@peftkit\/[^/]+|peftkit-plugin-ia3)$/.test(path),
);
const foreign = ours.filter(([, entry]) => !entry.link && !String(entry.resolved).startsWith('file:'));
record(
  'peftkit packages resolve to the tarballs',
  ours.length === packed.length + 1 && foreign.length === 0,
  foreign.map(([p]) => p).join(', '),
);

// 3a/3b. The examples, from their own folders, with the checkout's conditions kept out.
const env = { ...process.env, NODE_OPTIONS: '', DENO_CONDITIONS: '' };
const bin = (name) => join(root, 'node_modules', '.bin', name);
const programmatic = { cwd: join(project, 'examples', 'programmatic'), env };
check('(a) node examples/programmatic/index.mjs', 'programmatic', process.execPath, ['index.mjs'], programmatic);
check(
  '(a) deno run -A examples/programmatic/index.mjs',
  'programmatic',
  bin('deno'),
  ['run', '-A', 'index.mjs'],
  programmatic,
);
check('(a) bun examples/programmatic/index.mjs', 'programmatic', bin('bun'), ['index.mjs'], programmatic);
check('(b) node examples/hono-mount/index.mjs', 'hono-mount', process.execPath, ['index.mjs'], {
  cwd: join(project, 'examples', 'hono-mount'),
  env,
});

// 3c. The third-party plugin through the CLI: two trained versions, served, hot-swapped, asked through `openai`.
const model = join(project, 'node_modules', 'peftkit', 'assets', 'peftkit-moby');
const jsonl = (lines) => `${lines.map((text) => JSON.stringify({ text })).join('\n')}\n`;
writeFileSync(
  join(project, 'v1.jsonl'),
  jsonl(['Call me Ishmael. The sea was calm.', 'The whale rose from the grey sea.', 'Ahab looked out over the water.']),
);
writeFileSync(
  join(project, 'v2.jsonl'),
  jsonl([
    'Call me Ishmael, said the harpooner.',
    'Queequeg polished his harpoon by the fire.',
    'Starbuck said the wind would turn.',
  ]),
);
const trained = [
  ['ia3', 'v1.jsonl', '6'],
  ['ia3-v2', 'v2.jsonl', '12'],
].every(([out, data, steps]) => {
  const argv = [
    '--no-install',
    'peftkit',
    'train',
    '--plugin',
    'peftkit-plugin-ia3',
    '--method',
    'ia3',
    '--model',
    model,
  ];
  argv.push('--data', data, '--out', join('adapters', out), '--steps', steps, '--lr', '0.05');
  const r = run('npx', argv, { cwd: project, env });
  const ok = r.status === 0 && existsSync(join(project, 'adapters', out, 'adapter_model.safetensors'));
  return record(
    `(c) npx peftkit train --plugin peftkit-plugin-ia3 --method ia3 → adapters/${out}`,
    ok,
    ok ? r.out.trim().split('\n').at(-1) : r.out.slice(-3000),
  );
});
if (trained) {
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const serveEnv = { ...env, PEFTKIT_ADMIN_KEY: 'outside-examples-admin' };
  const argv = [
    '--no-install',
    'peftkit',
    'serve',
    '--plugin',
    'peftkit-plugin-ia3',
    '--model',
    model,
    '--adapters',
    'adapters',
    '--port',
    String(port),
  ];
  // its own process group: npx, node and the engine worker all get the SIGTERM
  const server = spawn('npx', argv, { cwd: project, env: serveEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  for (const stream of [server.stdout, server.stderr]) stream.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => server.once('exit', (code, signal) => resolve(code ?? signal)));
  let ready = false;
  for (let i = 0; i < 90 && !ready && server.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    ready = await fetch(`http://127.0.0.1:${port}/ready`).then(
      (r) => r.ok,
      () => false,
    );
  }
  if (
    record(
      '(c) npx peftkit serve --plugin peftkit-plugin-ia3 is ready',
      ready,
      ready ? `port ${port}` : log.slice(-3000),
    )
  ) {
    writeFileSync(join(project, 'hotswap.mjs'), readFileSync(join(root, 'scripts', 'outside-hotswap.mjs'), 'utf8'));
    check(
      '(c) openai client before/after PUT /v1/adapters/ia3 (hot swap)',
      'hotswap',
      process.execPath,
      ['hotswap.mjs', String(port)],
      {
        cwd: project,
        env: serveEnv,
      },
    );
  }
  if (server.exitCode === null) process.kill(-server.pid, 'SIGTERM');
  const code = await exited; // npx dies of the signal itself (exit SIGTERM); the server beside it drains and exits
  const groupAlive = () => {
    try {
      return process.kill(-server.pid, 0); // anything left of the group: the node server, its engine worker?
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 60 && groupAlive(); i++) await new Promise((r) => setTimeout(r, 500));
  const alive = groupAlive();
  const ok = (code === 0 || code === 'SIGTERM') && log.includes('draining in-flight requests') && !alive;
  record(
    '(c) serve drains and exits on SIGTERM',
    ok,
    ok ? `npx exit ${code}` : `npx exit ${code}${alive ? ', processes left after 30 s' : ''}\n${log.slice(-2000)}`,
  );
  if (alive) process.kill(-server.pid, 'SIGKILL');
}
finish(tmp);
