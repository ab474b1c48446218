import { createRequire } from 'node:module';
import { type BlasBinding, type BlasOpener, cblasProducts, THREAD_GETTERS } from './types.ts';

/*
 * Bun: bun:ffi, required by name at call time so tsc and deno never resolve it. A 'ptr' argument takes a
 * TypedArray's data pointer (byteOffset included) without copying. bun:ffi's dlopen fails on a missing symbol,
 * so each optional symbol is opened on its own.
 */

type Fn = (...args: unknown[]) => unknown;
interface SymbolDef {
  args: string[];
  returns: string;
}
interface BunFfi {
  dlopen(path: string, symbols: Record<string, SymbolDef>): { symbols: Record<string, Fn> };
  CString: new (pointer: unknown) => { toString(): string };
}

function optional(ffi: BunFfi, path: string, name: string, returns: string, args: string[] = []): Fn | undefined {
  try {
    return ffi.dlopen(path, { [name]: { args, returns } }).symbols[name];
  } catch {
    return undefined; // this BLAS lacks the symbol
  }
}

export function bunOpener(): BlasOpener {
  const ffi = createRequire(import.meta.url)('bun:ffi') as BunFfi;
  return (path) => open(ffi, path);
}

function open(ffi: BunFfi, path: string): BlasBinding {
  const { symbols } = ffi.dlopen(path, {
    cblas_sgemm: {
      args: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'ptr', 'i32', 'ptr', 'i32', 'f32', 'ptr', 'i32'],
      returns: 'void',
    },
  });
  const sgemm = symbols.cblas_sgemm as Fn;
  const sgemv = optional(ffi, path, 'cblas_sgemv', 'void', [
    'i32',
    'i32',
    'i32',
    'i32',
    'f32',
    'ptr',
    'i32',
    'ptr',
    'i32',
    'f32',
    'ptr',
    'i32',
  ]);
  const threadGetter = THREAD_GETTERS.map((name) => optional(ffi, path, name, 'i32')).find((f) => f !== undefined);
  const configGetter = optional(ffi, path, 'openblas_get_config', 'ptr');
  return {
    ...cblasProducts(sgemm, sgemv),
    threads: () => threadGetter?.() as number | undefined,
    config() {
      const pointer = configGetter?.();
      return pointer == null ? undefined : new ffi.CString(pointer).toString();
    },
  };
}
