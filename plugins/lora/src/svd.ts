/**
 * Singular value decomposition of a low-rank product M = X·Yᵀ (X [m, R], Y [n, R], row-major float64), as LoRA's
 * ΔW = B·A always is. Thin QR of both factors reduces the problem to an R×R core, which one-sided Jacobi decomposes
 * to full float64 accuracy: O((m + n)·R²) work instead of an m×n decomposition.
 */

export interface Svd {
  /** [m, R] left singular vectors (columns). */
  readonly u: Float64Array;
  /** R singular values, descending. */
  readonly s: Float64Array;
  /** [n, R] right singular vectors (columns). */
  readonly v: Float64Array;
}

/** Modified Gram–Schmidt, applied twice for orthogonality; dependent columns become zero (their R row is zero). */
function thinQr(x: Float64Array, m: number, cols: number): { q: Float64Array; r: Float64Array } {
  const q = Float64Array.from(x);
  const r = new Float64Array(cols * cols);
  let scale = 0;
  for (const value of x) scale = Math.max(scale, Math.abs(value));
  const tiny = 1e-13 * Math.max(scale, Number.MIN_VALUE) * Math.sqrt(m);
  for (let j = 0; j < cols; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < j; k++) {
        let dot = 0;
        for (let i = 0; i < m; i++) dot += (q[i * cols + k] as number) * (q[i * cols + j] as number);
        r[k * cols + j] = (r[k * cols + j] as number) + dot;
        for (let i = 0; i < m; i++) q[i * cols + j] = (q[i * cols + j] as number) - dot * (q[i * cols + k] as number);
      }
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += (q[i * cols + j] as number) ** 2;
    norm = Math.sqrt(norm);
    r[j * cols + j] = norm > tiny ? norm : 0;
    for (let i = 0; i < m; i++) q[i * cols + j] = norm > tiny ? (q[i * cols + j] as number) / norm : 0;
  }
  return { q, r };
}

/** One-sided (Hestenes) Jacobi SVD of a square n×n matrix. */
export function jacobiSvd(matrix: Float64Array, n: number): Svd {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const column = (p: number, q: number, m: Float64Array) => {
    let dot = 0;
    for (let i = 0; i < n; i++) dot += (m[i * n + p] as number) * (m[i * n + q] as number);
    return dot;
  };
  const rotate = (m: Float64Array, p: number, q: number, c: number, s: number) => {
    for (let i = 0; i < n; i++) {
      const x = m[i * n + p] as number;
      const y = m[i * n + q] as number;
      m[i * n + p] = c * x - s * y;
      m[i * n + q] = s * x + c * y;
    }
  };
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const alpha = column(p, p, a);
        const beta = column(q, q, a);
        const gamma = column(p, q, a);
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        rotate(a, p, q, c, c * t);
        rotate(v, p, q, c, c * t);
      }
    }
    if (!rotated) break;
  }
  const sigma = Array.from({ length: n }, (_, j) => Math.sqrt(column(j, j, a)));
  const order = sigma.map((_, j) => j).sort((x, y) => (sigma[y] as number) - (sigma[x] as number));
  const u = new Float64Array(n * n);
  const vs = new Float64Array(n * n);
  const s = new Float64Array(n);
  order.forEach((src, dst) => {
    const value = sigma[src] as number;
    s[dst] = value;
    for (let i = 0; i < n; i++) {
      u[i * n + dst] = value > 0 ? (a[i * n + src] as number) / value : 0;
      vs[i * n + dst] = v[i * n + src] as number;
    }
  });
  return { u, s, v: vs };
}

/** C [m, k] = A [m, n] · B [n, k]. */
function matmul(a: Float64Array, b: Float64Array, m: number, n: number, k: number): Float64Array {
  const c = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < n; p++) {
      const x = a[i * n + p] as number;
      if (x === 0) continue;
      for (let j = 0; j < k; j++) c[i * k + j] = (c[i * k + j] as number) + x * (b[p * k + j] as number);
    }
  }
  return c;
}

/** SVD of X·Yᵀ: X = Qx·Rx, Y = Qy·Ry, so X·Yᵀ = Qx·(Rx·Ryᵀ)·Qyᵀ and only the R×R core needs Jacobi. */
export function lowRankSvd(x: Float64Array, m: number, y: Float64Array, n: number, rank: number): Svd {
  const qx = thinQr(x, m, rank);
  const qy = thinQr(y, n, rank);
  const ryT = new Float64Array(rank * rank);
  for (let i = 0; i < rank; i++) for (let j = 0; j < rank; j++) ryT[i * rank + j] = qy.r[j * rank + i] as number;
  const core = jacobiSvd(matmul(qx.r, ryT, rank, rank, rank), rank);
  return { u: matmul(qx.q, core.u, m, rank, rank), s: core.s, v: matmul(qy.q, core.v, n, rank, rank) };
}
