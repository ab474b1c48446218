import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_DIR } from '../app/src/cli/cmd-start.ts';

// Ctrl-C during `peftkit train` must not look like success to a script: the run saves a checkpoint, says how to
// resume, and exits 130 (128 + SIGINT). The child is Node running the CLI, whichever runtime runs this file.

const ROOT = fileURLToPath(new URL('..', import.meta.url));

test('train: SIGINT saves a checkpoint and exits 130', {
  skip: process.platform === 'win32' ? 'no SIGINT on Windows' : false,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-sigint-'));
  try {
    const data = join(dir, 'train.jsonl');
    await writeFile(
      data,
      `${['Call me Ishmael.', 'Some years ago, never mind how long precisely.', 'It is a way I have.']
        .map((text) => JSON.stringify({ text }))
        .join('\n')}\n`,
    );
    const out = join(dir, 'out');
    const child = spawn(
      'node',
      [
        'app/bin/peftkit.mjs',
        'train',
        '--model',
        DEFAULT_MODEL_DIR,
        '--method',
        'lora',
        '--data',
        data,
        '--out',
        out,
        '--steps',
        '100000',
        '--batch',
        '1',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      // the progress line of step 10 (non-TTY output prints every 10 steps): training is under way
      if (!sent && /step \d+\/100000/.test(stdout)) {
        sent = true;
        // process.kill, not child.kill: Deno's child_process reports a child it killed itself as exit code null
        process.kill(child.pid as number, 'SIGINT');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.ok(sent, `training started: ${stdout}\n${stderr}`);
    assert.equal(code, 130, `exit code 130 after Ctrl-C:\n${stderr}`);
    assert.match(stderr, /interrupted at step \d+/, stderr);
    const checkpoints = (await readdir(out)).filter((n) => /^checkpoint-\d+$/.test(n));
    assert.ok(checkpoints.length > 0, `a checkpoint to --resume from was saved (${(await readdir(out)).join(', ')})`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
