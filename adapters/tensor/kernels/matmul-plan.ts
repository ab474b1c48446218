/**
 * Shape analysis for batched matrix products, independent of any backend: which output batch reads
 * which batch of A and of B after broadcasting the outer dimensions (TF semantics).
 */
export interface MatMulPlan {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** Flattened outer dims of A and B as stored (before broadcasting). */
  readonly batchA: number;
  readonly batchB: number;
  /** Number of output matrices (flattened broadcast outer dims). */
  readonly batch: number;
  /** For each output matrix, the batch index of A and of B it reads. */
  readonly aIndex: Int32Array;
  readonly bIndex: Int32Array;
  readonly outShape: number[];
}

function product(dims: readonly number[]): number {
  let size = 1;
  for (const d of dims) size *= d;
  return size;
}

/** Source index per output position for one operand's outer dims, broadcast to `outDims`. */
function broadcastIndex(dims: readonly number[], outDims: readonly number[]): Int32Array {
  const rank = outDims.length;
  const padded = [...new Array<number>(rank - dims.length).fill(1), ...dims];
  const index = new Int32Array(product(outDims));
  const coord = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < index.length; flat++) {
    let src = 0;
    for (let d = 0; d < rank; d++)
      src = src * (padded[d] as number) + ((padded[d] as number) === 1 ? 0 : (coord[d] as number));
    index[flat] = src;
    for (let d = rank - 1; d >= 0; d--) {
      coord[d] = (coord[d] as number) + 1;
      if ((coord[d] as number) < (outDims[d] as number)) break;
      coord[d] = 0;
    }
  }
  return index;
}

/** Returns null when the shapes are not a valid product (the caller lets tfjs raise its own error). */
export function planMatMul(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
): MatMulPlan | null {
  if (aShape.length < 2 || bShape.length < 2) return null;
  const aRows = aShape[aShape.length - 2] as number;
  const aCols = aShape[aShape.length - 1] as number;
  const bRows = bShape[bShape.length - 2] as number;
  const bCols = bShape[bShape.length - 1] as number;
  const m = transposeA ? aCols : aRows;
  const k = transposeA ? aRows : aCols;
  const n = transposeB ? bRows : bCols;
  if ((transposeB ? bCols : bRows) !== k) return null;
  const outerA = aShape.slice(0, -2);
  const outerB = bShape.slice(0, -2);
  const rank = Math.max(outerA.length, outerB.length);
  const outer: number[] = [];
  for (let d = 0; d < rank; d++) {
    const da = outerA[d - rank + outerA.length] ?? 1;
    const db = outerB[d - rank + outerB.length] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    outer.push(da === 1 ? db : da);
  }
  return {
    m,
    k,
    n,
    batchA: product(outerA),
    batchB: product(outerB),
    batch: product(outer),
    aIndex: broadcastIndex(outerA, outer),
    bIndex: broadcastIndex(outerB, outer),
    outShape: [...outer, m, n],
  };
}
