/**
 * Runs the `peftkit` CLI as a child process under the runtime running the test: the Node bin (tsx + the
 * `peftkit:source` condition), `deno run -A app/src/cli/main.ts` or `bun app/src/cli/main.ts`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../app/bin/peftkit.mjs', import.meta.url));
export const MAIN = fileURLToPath(new URL('../../app/src/cli/main.ts', import.meta.url));
const g = globalThis as { Deno?: unknown; Bun?: unknown };
const SOURCE = '--conditions=peftkit:source';

/** [executable, arguments] that run the CLI with `args` on this runtime. */
export function cliArgv(args: readonly string[]): [string, string[]] {
  if (g.Deno) return [process.execPath, ['run', '-A', SOURCE, MAIN, ...args]];
  if (g.Bun) return [process.execPath, [SOURCE, MAIN, ...args]];
  return [process.execPath, [BIN, ...args]];
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function spawnCli(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string | undefined> } = {},
): ChildProcess {
  const [command, argv] = cliArgv(args);
  // NO_COLOR: Deno colours its own messages otherwise, and assertions read plain text.
  return spawn(command, argv, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the CLI to completion. */
export function runCli(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string | undefined> } = {},
): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Uint8Array) => {
    stdout += String(d);
  });
  child.stderr?.on('data', (d: Uint8Array) => {
    stderr += String(d);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Reads stdout until `pattern` matches (its first group is returned); rejects when the child exits first. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, stderr: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Uint8Array) => {
      out += String(d);
      const match = pattern.exec(out);
      if (match) resolve(match[1] ?? match[0]);
    });
    child.on('exit', (code) => reject(new Error(`the CLI exited (${code}) before printing ${pattern}: ${stderr()}`)));
  });
}
