/**
 * Running the PyTorch peer scripts of this folder: finding an interpreter that imports torch, running a script,
 * reading its one-line JSON result, and which BLAS torch calls. Nothing is ever installed from here.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { PeerBlas } from '../train-report.ts';

export const PEER_INSTALL_HINT =
  'install it (Debian 12, as root): apt-get install -y python3-torch libopenblas0-pthread';

export function runPython(exe: string, args: readonly string[], timeoutS: number, env: Record<string, string> = {}) {
  const cwd = fileURLToPath(new URL('./', import.meta.url));
  return spawnSync(exe, args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    maxBuffer: 16 * 2 ** 20,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env },
  });
}

/**
 * Torch thread counts the peer is run with: PEFTKIT_PEER_THREADS when set, else 1 and every core. The best is
 * reported: on a loaded machine torch's OpenMP threads spin-wait and 2 threads can be 10x slower than 1, on a quiet
 * one 2 threads win, and a fair peer is PyTorch at its best setting.
 */
export function peerThreadOptions(): number[] {
  const forced = Number(process.env.PEFTKIT_PEER_THREADS);
  if (Number.isInteger(forced) && forced > 0) return [forced];
  return [...new Set([1, cpus().length])];
}

/**
 * The first interpreter that imports torch: PEFTKIT_PYTHON, then python3 on PATH, then Debian's /usr/bin/python3
 * (a pyenv or venv python3 on PATH does not see Debian's python3-torch).
 */
export function findTorchPython(): string | undefined {
  const candidates = [process.env.PEFTKIT_PYTHON, 'python3', '/usr/bin/python3'].filter(
    (c): c is string => c !== undefined && c !== '',
  );
  return candidates.find((exe) => {
    const probe = runPython(exe, ['-c', 'import torch'], 120);
    return probe.error === undefined && probe.status === 0;
  });
}

/** The last stdout line that parses as JSON, or the reason (last stderr line naming an error) there is none. */
export function lastJsonLine<T>(
  stdout: string,
  stderr: string,
  status: number | null,
  signal: string | null,
): T | { skipped: string } {
  for (const line of stdout.trim().split('\n').reverse()) {
    try {
      return JSON.parse(line) as T;
    } catch {
      // not the result line
    }
  }
  const why = stderr
    .split('\n')
    .filter((l) => /error|killed|memory/i.test(l) && l.length < 400)
    .at(-1);
  return { skipped: `process ended (status ${status}, signal ${signal})${why ? `: ${why.trim()}` : ''}` };
}

/** Runs a peer script and parses its JSON line. */
export function runPeerScript<T>(
  exe: string,
  script: string,
  settings: unknown,
  timeoutS: number,
  threads?: number,
): T | { skipped: string } {
  const r = runPython(
    exe,
    [script, JSON.stringify(settings)],
    timeoutS,
    threads === undefined ? {} : { PEFTKIT_PEER_THREADS: String(threads) },
  );
  return lastJsonLine<T>(r.stdout ?? '', r.stderr ?? '', r.status, r.signal);
}

/** The torch interpreter and its BLAS, or why the peer cannot run. */
export function probePeer(): { exe: string; blas: PeerBlas } | { reason: string } {
  const exe = findTorchPython();
  if (exe === undefined)
    return { reason: `python3 with torch not found (PEFTKIT_PYTHON, python3, /usr/bin/python3); ${PEER_INSTALL_HINT}` };
  const blas = runPeerScript<PeerBlas>(exe, 'blas.py', null, 300);
  if ('skipped' in blas) return { reason: `bench/peer/blas.py failed: ${blas.skipped}` };
  return { exe, blas: { ...blas, python: exe } };
}
