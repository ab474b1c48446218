import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Rotary position embedding ("rotate half", Hugging Face's convention) as one wasm kernel per direction. The kernel
 * name is shared with packages/models/src/model/rope.ts, which uses it when the backend has it. The composed
 * version (split, neg, concat, two mul, add, and the autodiff of each) was ~8 % of kernel time in a LoRA step of a
 * stories15M-shaped Llama; here it is one JS pass over heap views, and the gradient is the same pass rotating the
 * other way (`inverse`), so nothing but cos and sin is kept for the backward pass.
 *
 * inputs {x [b, s, h, d] float32, cos [b, s, 1, d], sin [b, s, 1, d]}, attr {inverse}:
 *   y1 = x1·c − x2·σ, y2 = x2·c + x1·σ with σ = sin (or −sin when inverse), x1 / x2 the halves of each head.
 * Only the first half of each cos / sin row is read: ropeTables duplicates it into the second half.
 */
export const ROPE_KERNEL = 'PeftkitRope';

const describe = (t: TensorInfo) => `${t.dtype} [${t.shape.join(', ')}]`;

function checkShapes(x: TensorInfo, cos: TensorInfo, sin: TensorInfo): [number, number, number, number] {
  if (x.dtype !== 'float32' || x.shape.length !== 4) {
    throw new Error(`${ROPE_KERNEL}: x must be float32 [batch, seq, heads, headDim], got ${describe(x)}`);
  }
  const [batch, seq, heads, dim] = x.shape as [number, number, number, number];
  if (dim % 2 !== 0) throw new Error(`${ROPE_KERNEL}: headDim must be even, got ${dim}`);
  for (const [name, t] of [
    ['cos', cos],
    ['sin', sin],
  ] as const) {
    const s = t.shape;
    if (t.dtype !== 'float32' || s.length !== 4 || s[0] !== batch || s[1] !== seq || s[2] !== 1 || s[3] !== dim) {
      throw new Error(`${ROPE_KERNEL}: ${name} must be float32 [${batch}, ${seq}, 1, ${dim}], got ${describe(t)}`);
    }
  }
  return [batch, seq, heads, dim];
}

/** Rotates every head of x by the angles of its (batch, position) row; the sign of sin flips when inverse. */
export function rotateHalf(
  x: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  out: Float32Array,
  rows: number,
  heads: number,
  dim: number,
  inverse: boolean,
): void {
  const half = dim / 2;
  const sign = inverse ? -1 : 1;
  for (let r = 0; r < rows; r++) {
    const table = r * dim;
    for (let h = 0; h < heads; h++) {
      const base = (r * heads + h) * dim;
      const mid = base + half;
      for (let i = 0; i < half; i++) {
        const c = cos[table + i] as number;
        const s = sign * (sin[table + i] as number);
        const x1 = x[base + i] as number;
        const x2 = x[mid + i] as number;
        out[base + i] = x1 * c - x2 * s;
        out[mid + i] = x2 * c + x1 * s;
      }
    }
  }
}

export function makeWasmRope(): KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const backend = b as BackendWasm;
    const x = inputs.x as TensorInfo;
    const cos = inputs.cos as TensorInfo;
    const sin = inputs.sin as TensorInfo;
    const [batch, seq, heads, dim] = checkShapes(x, cos, sin);
    const out = backend.makeOutput([...x.shape], 'float32');
    if (batch * seq * heads * dim === 0) return out;
    // views after makeOutput: growing the heap detaches older views
    rotateHalf(
      backend.typedArrayFromHeap(x) as Float32Array,
      backend.typedArrayFromHeap(cos) as Float32Array,
      backend.typedArrayFromHeap(sin) as Float32Array,
      backend.typedArrayFromHeap(out) as Float32Array,
      batch * seq,
      heads,
      dim,
      attrs?.inverse === true,
    );
    return out;
  };
}
