/** What a runtime's FFI binding of a BLAS library offers peftkit. */
export interface BlasBinding {
  /**
   * Row-major C = alpha·op(A)·op(B) + beta·C (cblas_sgemm). `a`, `b`, `c` are float32 views whose first element is
   * the matrix's first element; they are handed to C as pointers, never copied (views of the wasm heap work).
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
  /**
   * Row-major y = alpha·op(A)·x + beta·y (cblas_sgemv), A of `rows` x `cols`; x and y with unit stride. For products
   * with one row or column: sgemm packs the whole matrix per call, sgemv streams it once (2-3x faster measured).
   */
  sgemv?(
    trans: boolean,
    rows: number,
    cols: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    x: Float32Array,
    beta: number,
    y: Float32Array,
  ): void;
  /** The library's own thread count where it exposes one (OpenBLAS, BLIS, MKL). */
  threads(): number | undefined;
  /** A build description where the library has one (OpenBLAS's openblas_get_config). */
  config(): string | undefined;
}

/** Opens `path` (a file path or a name the dynamic loader resolves) with one runtime's FFI; throws when it cannot. */
export type BlasOpener = (path: string) => BlasBinding;

/** CBLAS enum values (cblas.h): the same in OpenBLAS, BLIS, MKL and Accelerate. */
export const CBLAS = { rowMajor: 101, noTrans: 111, trans: 112 } as const;

/** Optional `int f(void)` symbols that report a BLAS's thread count, tried in order. */
export const THREAD_GETTERS = [
  'openblas_get_num_threads',
  'bli_thread_get_num_threads',
  'MKL_Get_Max_Threads',
] as const;

type CFunction = (...args: unknown[]) => unknown;

/** The BlasBinding products over raw FFI functions with cblas_sgemm's and cblas_sgemv's C signatures. */
export function cblasProducts(
  sgemm: CFunction,
  sgemv: CFunction | null | undefined,
): Pick<BlasBinding, 'sgemm' | 'sgemv'> {
  const op = (t: boolean) => (t ? CBLAS.trans : CBLAS.noTrans);
  return {
    sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
      sgemm(CBLAS.rowMajor, op(tA), op(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    },
    ...(sgemv == null
      ? {}
      : {
          sgemv: (t, rows, cols, alpha, a, lda, x, beta, y) =>
            void sgemv(CBLAS.rowMajor, op(t), rows, cols, alpha, a, lda, x, 1, beta, y, 1),
        }),
  };
}
