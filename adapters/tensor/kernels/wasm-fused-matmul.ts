import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import { originalKernel } from './registry.ts';
import { isFastAlready, planFloatProduct, wasmProduct, withWeights } from './wasm-matmul.ts';
import { release, runWasmKernel, transposeLast, view } from './wasm-ops.ts';

/**
 * _FusedMatMul (tf.fused.matMul) on wasm has the same slow path as BatchMatMul and, worse, its slow
 * path adds the bias at flat index min(i*n+j, n-1) instead of j, so transposed or batched fused
 * products with a bias are wrong in tfjs 4.22. Here a product that needs rewriting either becomes one
 * fast fused 2-D call (B unbatched, rank-1 bias, linear/relu/relu6: what the C fast path supports) or
 * a fast product followed by the wasm Add and activation kernels. The latter also covers what the
 * original rejects outright (bias of rank > 1) or does not fuse (sigmoid, elu, leakyrelu, prelu).
 */

interface FusedInputs {
  a: TensorInfo;
  b: TensorInfo;
  bias?: TensorInfo | null;
  preluActivationWeights?: TensorInfo | null;
}

const CLAMP_ACTIVATIONS = new Set(['linear', 'relu', 'relu6']);

export function activate(
  tf: Tf,
  backend: BackendWasm,
  x: TensorInfo,
  attrs: NamedAttrMap,
  prelu: TensorInfo | null | undefined,
): TensorInfo {
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  switch (activation) {
    case 'linear':
      return x;
    case 'relu':
      return runWasmKernel(tf, backend, tf.Relu, { x });
    case 'relu6':
      return runWasmKernel(tf, backend, tf.Relu6, { x });
    case 'sigmoid':
      return runWasmKernel(tf, backend, tf.Sigmoid, { x });
    case 'elu':
      return runWasmKernel(tf, backend, tf.Elu, { x });
    case 'leakyrelu':
      return runWasmKernel(
        tf,
        backend,
        tf.LeakyRelu,
        { x },
        { alpha: (attrs.leakyreluAlpha as number | undefined) ?? 0.2 },
      );
    case 'prelu':
      if (prelu == null) throw new Error('_FusedMatMul: prelu activation without preluActivationWeights');
      return runWasmKernel(tf, backend, tf.Prelu, { x, alpha: prelu });
    default:
      throw new Error(`_FusedMatMul: activation '${activation}' is not supported on wasm`);
  }
}

export function makeWasmFusedMatMul(tf: Tf, original: KernelConfig): KernelFunc {
  return (args) => {
    const inputs = args.inputs as unknown as FusedInputs;
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const tA = attrs.transposeA === true;
    const tB = attrs.transposeB === true;
    const p = planFloatProduct(inputs.a, inputs.b, tA, tB);
    if (p === null) return original.kernelFunc(args);
    const backend = args.backend as BackendWasm;
    const bias = inputs.bias ?? null;
    const activation = (attrs.activation as string | undefined) ?? 'linear';
    const simpleBias = bias === null || (bias.shape.length === 1 && bias.shape[0] === p.n);
    const cFastPathFits = simpleBias && CLAMP_ACTIVATIONS.has(activation);
    if (cFastPathFits && isFastAlready(p, tA, tB)) {
      const out = withWeights(backend, view(inputs.b, [p.k, p.n]), false, (w) =>
        original.kernelFunc({ ...args, inputs: { ...args.inputs, b: view(w, inputs.b.shape) } }),
      ) as TensorInfo;
      return view(out, p.outShape);
    }
    if (cFastPathFits && p.batchB === 1) {
      // One fused XNNPACK call over all rows of A: bias and clamp are applied by the C fast path.
      const a3 = tA ? transposeLast(tf, backend, inputs.a, p.batchA, p.k, p.m) : inputs.a;
      const b3 = tB ? transposeLast(tf, backend, inputs.b, 1, p.n, p.k) : inputs.b;
      try {
        const out = withWeights(backend, view(b3, [p.k, p.n]), tB, (w) => {
          const fusedInputs = {
            a: view(a3, [1, p.batchA * p.m, p.k]),
            b: view(w, [1, p.k, p.n]),
            ...(bias === null ? {} : { bias }),
          };
          return original.kernelFunc({
            inputs: fusedInputs,
            backend,
            attrs: { ...attrs, transposeA: false, transposeB: false },
          }) as TensorInfo;
        });
        return view(out, p.outShape);
      } finally {
        if (tA) release(backend, a3);
        if (tB) release(backend, b3);
      }
    }
    // The unfused product goes through tfjs's own BatchMatMul kernel in 2-D calls.
    const batchMatMul = originalKernel(tf, tf.BatchMatMul, 'wasm');
    if (batchMatMul === undefined) throw new Error('wasm BatchMatMul kernel is not registered');
    let y = wasmProduct(tf, backend, batchMatMul.kernelFunc, inputs.a, inputs.b, tA, tB, p);
    if (bias !== null) {
      const sum = runWasmKernel(tf, backend, tf.Add, { a: y, b: bias });
      release(backend, y);
      y = sum;
    }
    const out = activate(tf, backend, y, attrs, inputs.preluActivationWeights);
    if (out.dataId !== y.dataId) release(backend, y);
    return out;
  };
}
