import { type BlasBinding, type BlasOpener, cblasProducts, THREAD_GETTERS } from './types.ts';

/*
 * Deno: Deno.dlopen (needs --allow-ffi; without it dlopen throws and peftkit goes on without BLAS). A 'buffer'
 * parameter passes a TypedArray's data pointer (byteOffset included) without copying. The few Deno types used are
 * declared here so tsc (which has no Deno globals) checks this file too.
 */

type Native = 'i32' | 'f32' | 'buffer' | 'pointer' | 'void';
interface SymbolDef {
  parameters: Native[];
  result: Native;
  optional?: boolean;
}
interface DenoFfi {
  dlopen(
    path: string,
    symbols: Record<string, SymbolDef>,
  ): { symbols: Record<string, ((...args: unknown[]) => unknown) | null | undefined> };
  UnsafePointerView: { getCString(pointer: unknown): string };
}

export function denoOpener(): BlasOpener {
  const deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;
  if (typeof deno.dlopen !== 'function') throw new Error('Deno.dlopen is not available');
  return (path) => open(deno, path);
}

function open(deno: DenoFfi, path: string): BlasBinding {
  const int: SymbolDef = { parameters: [], result: 'i32', optional: true };
  const { symbols } = deno.dlopen(path, {
    cblas_sgemm: {
      parameters: [
        'i32',
        'i32',
        'i32',
        'i32',
        'i32',
        'i32',
        'f32',
        'buffer',
        'i32',
        'buffer',
        'i32',
        'f32',
        'buffer',
        'i32',
      ],
      result: 'void',
    },
    cblas_sgemv: {
      parameters: ['i32', 'i32', 'i32', 'i32', 'f32', 'buffer', 'i32', 'buffer', 'i32', 'f32', 'buffer', 'i32'],
      result: 'void',
      optional: true,
    },
    openblas_get_config: { parameters: [], result: 'pointer', optional: true },
    ...Object.fromEntries(THREAD_GETTERS.map((name) => [name, int])),
  });
  const sgemm = symbols.cblas_sgemm as (...args: unknown[]) => unknown;
  const sgemv = symbols.cblas_sgemv;
  const threadGetter = THREAD_GETTERS.map((name) => symbols[name]).find((f) => f != null);
  const configGetter = symbols.openblas_get_config;
  return {
    ...cblasProducts(sgemm, sgemv),
    threads: () => (threadGetter == null ? undefined : (threadGetter() as number)),
    config() {
      const pointer = configGetter?.();
      return pointer == null ? undefined : deno.UnsafePointerView.getCString(pointer);
    },
  };
}
