import { createRequire } from 'node:module';
import { type BlasBinding, type BlasOpener, cblasProducts, THREAD_GETTERS } from './types.ts';

/*
 * Node: koffi (an optional dependency with prebuilt binaries inside its npm packages). Required lazily by name so a
 * machine without it only loses BLAS. koffi hands a TypedArray to a `float *` parameter as a pointer to its first
 * element (byteOffset included) without copying, so views of the wasm heap go straight to C.
 */

type Fn = (...args: unknown[]) => unknown;
interface KoffiLib {
  func(signature: string): Fn;
}
interface Koffi {
  load(path: string): KoffiLib;
}

function optional(lib: KoffiLib, signature: string): Fn | undefined {
  try {
    return lib.func(signature);
  } catch {
    return undefined; // this BLAS lacks the symbol
  }
}

/** Throws when koffi is not installed (or has no binary for this platform). */
export function koffiOpener(): BlasOpener {
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  return (path) => open(koffi, path);
}

function open(koffi: Koffi, path: string): BlasBinding {
  const lib = koffi.load(path);
  const sgemm = lib.func(
    'void cblas_sgemm(int, int, int, int, int, int, float, float *, int, float *, int, float, float *, int)',
  );
  const sgemv = optional(
    lib,
    'void cblas_sgemv(int, int, int, int, float, float *, int, float *, int, float, float *, int)',
  );
  const threadGetter = THREAD_GETTERS.map((name) => optional(lib, `int ${name}()`)).find((f) => f !== undefined);
  const configGetter = optional(lib, 'const char *openblas_get_config()');
  return {
    ...cblasProducts(sgemm, sgemv),
    threads: () => threadGetter?.() as number | undefined,
    config: () => (configGetter?.() as string | null | undefined) ?? undefined,
  };
}
