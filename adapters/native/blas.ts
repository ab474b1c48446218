import { readFileSync } from 'node:fs';
import type { NativeLibraries } from '@peftkit/core';
import { detectPlatform } from '../runtime/detect.ts';
import { bunOpener } from './ffi-bun.ts';
import { denoOpener } from './ffi-deno.ts';
import { koffiOpener } from './ffi-node.ts';
import type { BlasBinding, BlasOpener } from './types.ts';

/**
 * The machine's BLAS, found once per process and bound through the runtime's own FFI (Node: koffi, Deno:
 * Deno.dlopen, Bun: bun:ffi). `PEFTKIT_BLAS=off` disables it, `PEFTKIT_BLAS=<path or name>` picks one library.
 * Threads are the library's own: OpenBLAS reads OPENBLAS_NUM_THREADS (BLIS: BLIS_NUM_THREADS, MKL:
 * MKL_NUM_THREADS) when it is loaded, default one per core. Loading is synchronous so the NativeLibraries port
 * and kernel installation (both synchronous) can ask for it; it happens on first use, not at import.
 */

export interface BlasLibrary {
  /** 'OpenBLAS', 'BLIS', 'MKL', 'Accelerate' or the file name. */
  readonly name: string;
  /** The file that was loaded (resolved through /proc/self/maps on Linux when opened by name). */
  readonly path: string;
  readonly threads: number | undefined;
  readonly config: string | undefined;
  readonly binding: BlasBinding;
}

export interface BlasStatus {
  readonly library: BlasLibrary | null;
  /** Why there is none (disabled, not found, FFI missing). */
  readonly reason?: string;
  /** Candidates tried, in order, with the error of each that failed. */
  readonly tried: readonly string[];
}

/** Standard names and paths per OS, fastest first; names go through the dynamic loader's search path. */
const CANDIDATES: Record<string, readonly string[]> = {
  linux: [
    'libopenblas.so.0',
    'libopenblas.so',
    'libblis.so.4',
    'libblis.so',
    'libmkl_rt.so.2',
    'libmkl_rt.so',
    'libcblas.so.3',
  ],
  darwin: [
    '/System/Library/Frameworks/Accelerate.framework/Accelerate',
    '/opt/homebrew/opt/openblas/lib/libopenblas.dylib',
    '/usr/local/opt/openblas/lib/libopenblas.dylib',
  ],
  win32: ['libopenblas.dll', 'openblas.dll', 'mkl_rt.2.dll'],
};

/** What Linux users install to get the fast path (README, diagnostics). */
export const BLAS_INSTALL_HINT =
  'apt-get install libopenblas0-pthread (Debian/Ubuntu) or your distribution’s OpenBLAS package';

interface Env {
  process?: { env?: Record<string, string | undefined>; platform?: string };
  Deno?: { build: { os: string }; env: { get(name: string): string | undefined } };
}

function envValue(name: string): string | undefined {
  const g = globalThis as unknown as Env;
  try {
    return g.process?.env?.[name] ?? g.Deno?.env.get(name);
  } catch {
    return undefined; // Deno without --allow-env
  }
}

function osName(): string {
  const g = globalThis as unknown as Env;
  return g.Deno?.build.os ?? g.process?.platform ?? 'unknown';
}

/** This runtime's FFI; throws when it has none (koffi not installed, say). */
function opener(): BlasOpener {
  const runtime = detectPlatform().runtime;
  return runtime === 'deno' ? denoOpener() : runtime === 'bun' ? bunOpener() : koffiOpener();
}

function displayName(file: string): string {
  if (/openblas/i.test(file)) return 'OpenBLAS';
  if (/blis/i.test(file)) return 'BLIS';
  if (/mkl/i.test(file)) return 'MKL';
  if (/Accelerate/.test(file)) return 'Accelerate';
  return file.split('/').pop() ?? file;
}

/** The mapped file behind a library opened by name (Linux); the name itself elsewhere. */
function resolvedPath(candidate: string): string {
  if (candidate.includes('/')) return candidate;
  const stem = candidate.replace(/\.so.*$/, '');
  try {
    for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const file = line.slice(line.indexOf('/'));
      if (line.includes('/') && (file.split('/').pop() ?? '').startsWith(stem)) return file;
    }
  } catch {
    // no procfs (or no read permission): report the name
  }
  return candidate;
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

function load(): BlasStatus {
  const chosen = envValue('PEFTKIT_BLAS')?.trim();
  if (chosen !== undefined && /^(off|0|false|none|no)$/i.test(chosen))
    return { library: null, reason: 'disabled by PEFTKIT_BLAS', tried: [] };
  const candidates = chosen ? [chosen] : (CANDIDATES[osName()] ?? []);
  if (candidates.length === 0)
    return { library: null, reason: `no standard BLAS names known for ${osName()}`, tried: [] };
  let open: BlasOpener;
  try {
    open = opener();
  } catch (error) {
    return { library: null, reason: `no FFI on ${detectPlatform().runtime}: ${errorText(error)}`, tried: [] };
  }
  const tried: string[] = [];
  for (const candidate of candidates) {
    try {
      const binding = open(candidate);
      const path = resolvedPath(candidate);
      return {
        library: { name: displayName(path), path, threads: binding.threads(), config: binding.config(), binding },
        tried,
      };
    } catch (error) {
      tried.push(`${candidate}: ${errorText(error)}`);
      // Deno without --allow-ffi: every candidate would fail the same way.
      if (/NotCapable|PermissionDenied|--allow-ffi/.test(`${(error as Error).name} ${errorText(error)}`))
        return { library: null, reason: errorText(error), tried };
    }
  }
  const reason = chosen ? `PEFTKIT_BLAS=${chosen} could not be loaded` : `no BLAS found (${BLAS_INSTALL_HINT})`;
  return { library: null, reason, tried };
}

let status: BlasStatus | undefined;

/** The found BLAS and why not, loaded on the first call (memoised for the process). */
export function blasStatus(): BlasStatus {
  status ??= load();
  return status;
}

/** The machine's BLAS, or null (disabled, absent, or no FFI on this runtime). */
export function blasLibrary(): BlasLibrary | null {
  return blasStatus().library;
}

/** One line for diagnostics and bench reports, e.g. "OpenBLAS (…/libopenblas.so.0), 2 threads". */
export function describeBlas(s: BlasStatus = blasStatus()): string {
  const lib = s.library;
  if (lib === null) return `none: ${s.reason ?? 'unknown'}`;
  return (
    `${lib.name} ` +
    `(${lib.path})${lib.threads === undefined ? '' : `, ${lib.threads} thread${lib.threads === 1 ? '' : 's'}`}`
  );
}

/** The NativeLibraries port: the BLAS peftkit's wasm kernels call, when there is one. */
export const nativeLibraries: NativeLibraries = {
  list() {
    const lib = blasLibrary();
    return lib === null
      ? []
      : [{ name: `BLAS ${lib.name}${lib.threads === undefined ? '' : ` (${lib.threads} threads)`}`, path: lib.path }];
  },
};
