import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { jsRopeLoops, type RopeLoops, simdRopeLoops } from './simd-rope.ts';
import { heapLoops, heapOffset } from './wasm-ops.ts';

/**
 * Rotary position embedding ("rotate half", Hugging Face's convention) as one wasm kernel per direction. The kernel
 * name is shared with packages/models/src/model/rope.ts, which uses it when the backend has it. The composed
 * version (split, neg, concat, two mul, add, and the autodiff of each) was ~8 % of kernel time in a LoRA step of a
 * stories15M-shaped Llama; here it is one SIMD pass on the heap (simd-rope.ts), and the gradient is the same pass
 * rotating the other way (`inverse`), so nothing but cos and sin is kept for the backward pass.
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

const loopsByBackend = new WeakMap<BackendWasm, RopeLoops>();

export function makeWasmRope(): KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const backend = b as BackendWasm;
    const x = inputs.x as TensorInfo;
    const cos = inputs.cos as TensorInfo;
    const sin = inputs.sin as TensorInfo;
    const [batch, seq, heads, dim] = checkShapes(x, cos, sin);
    const out = backend.makeOutput([...x.shape], 'float32');
    if (batch * seq * heads * dim === 0) return out;
    const loops = heapLoops(backend, loopsByBackend, simdRopeLoops, jsRopeLoops);
    const [o, xs, c, s] = [out, x, cos, sin].map((t) => heapOffset(backend, t)) as [number, number, number, number];
    loops.rotate(o, xs, c, s, batch * seq, heads, dim, attrs?.inverse === true ? -1 : 1);
    return out;
  };
}
