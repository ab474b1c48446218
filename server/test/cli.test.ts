import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { createFixture } from './fixture.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const g = globalThis as { Deno?: unknown; Bun?: unknown };

/** The CLI entry under the runtime running this test, on the sources (never a possibly stale dist/). */
function cliCommand(args: string[]): string[] {
  if (g.Deno) return ['run', '-A', '--conditions=peftkit:source', 'app/src/cli/main.ts', ...args];
  if (g.Bun) return ['--conditions=peftkit:source', 'app/src/cli/main.ts', ...args];
  return ['--conditions=peftkit:source', '--import', 'tsx', 'app/src/cli/main.ts', ...args];
}

describe('peftkit serve', () => {
  it('starts, answers over HTTP, drains on SIGTERM', async () => {
    const fixture = await createFixture({ cli: 41 });
    const child = spawn(
      process.execPath,
      cliCommand([
        'serve',
        '--model',
        fixture.modelDir,
        '--adapters',
        fixture.adapterRoot,
        '--preload',
        'cli',
        '--port',
        '0',
      ]),
      {
        cwd: root,
        env: { ...process.env, PEFTKIT_ADMIN_KEY: 'k' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Uint8Array) => {
      stderr += String(d);
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (d: Uint8Array) => {
          out += String(d);
          const match = /listening on (http:\/\/\S+)/.exec(out);
          if (match) resolve(match[1] as string);
        });
        void exited.then(() => reject(new Error(`serve exited early: ${stderr}`)));
      });
      const health = await fetch(`${url}/health`);
      assert.equal(health.status, 200, 'health');
      const models = (await (await fetch(`${url}/v1/models`)).json()) as {
        data: { id: string; parent: string | null }[];
      };
      assert.ok(
        models.data.some((m) => m.id === 'cli' && m.parent !== null),
        'preloaded adapter listed',
      );
      const admin = await fetch(`${url}/v1/adapters`);
      assert.equal(admin.status, 401, 'PEFTKIT_ADMIN_KEY protects admin routes');
      await admin.body?.cancel();
      child.kill('SIGTERM');
      const code = await exited;
      // Deno's node:child_process reports a child it signalled with a null code even when the child exits 0.
      assert.equal(
        code === 0 || (g.Deno !== undefined && code === null),
        true,
        `clean exit after draining (code ${code}, ${stderr})`,
      );
      assert.match(stderr, /draining in-flight requests/, 'the signal started a drain');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await fixture.cleanup();
    }
  });
});
