// End to end from a user's project outside the repository: train an adapter with a third-party plugin loaded by
// package name (`peftkit train --plugin`), serve it (`peftkit serve --plugin`, the plugin travels to the worker),
// complete with the openai client, stop with SIGTERM.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import OpenAI from 'openai';
import { ROOT, runCli, spawnCli, waitForOutput } from './support/cli-process.ts';
import { createPluginProject, PLUGIN_PACKAGE } from './support/plugin-project.ts';

const MODEL = join(ROOT, 'app', 'assets', 'peftkit-moby');
const g = globalThis as { Deno?: unknown };

test('a third-party plugin package trains and serves from the project directory', { timeout: 300_000 }, async () => {
  const project = await createPluginProject();
  try {
    const lines = [
      'Call me Ishmael.',
      'The whale swam away.',
      'The sea was calm that night.',
      'Ahab stood on the deck.',
    ];
    await writeFile(join(project.dir, 'data.jsonl'), lines.map((text) => JSON.stringify({ text })).join('\n'));
    const out = join(project.dir, 'adapters', 'ia3-demo');
    const train = await runCli(
      [
        'train',
        '--model',
        MODEL,
        '--method',
        'ia3',
        '--data',
        'data.jsonl',
        '--out',
        out,
        '--steps',
        '2',
        '--plugin',
        PLUGIN_PACKAGE,
      ],
      { cwd: project.dir },
    );
    assert.equal(train.code, 0, train.stderr);
    assert.match(train.stderr, /trained 2 steps/);

    const child = spawnCli(
      [
        'serve',
        '--model',
        MODEL,
        '--adapters',
        join(project.dir, 'adapters'),
        '--preload',
        'ia3-demo',
        '--port',
        '0',
        '--plugin',
        PLUGIN_PACKAGE,
      ],
      { cwd: project.dir, env: { PEFTKIT_ADMIN_KEY: 'k' } },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Uint8Array) => {
      stderr += String(d);
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await waitForOutput(child, /listening on (http:\/\/\S+)/, () => stderr);
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const models = await client.models.list();
      assert.ok(
        models.data.some((m) => m.id === 'ia3-demo'),
        'the adapter trained with the third-party method is loaded',
      );
      const completion = await client.completions.create({
        model: 'ia3-demo',
        prompt: 'Call me',
        max_tokens: 4,
        temperature: 0,
      });
      assert.equal(completion.model, 'ia3-demo');
      assert.equal(typeof completion.choices[0]?.text, 'string');
      assert.ok((completion.usage?.completion_tokens ?? 0) > 0);
      child.kill('SIGTERM');
      const code = await exited;
      assert.equal(code === 0 || (g.Deno !== undefined && code === null), true, `clean exit (${code}): ${stderr}`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  } finally {
    await project.cleanup();
  }
});
