import type { Tensor, Tensor1D, Tensor3D, Variable } from '@tensorflow/tfjs-core';
import { backendHasKernels } from '../runtime/backend-kernels.ts';
import type { Tf } from '../runtime/types.ts';
import type { ForwardCall, NormHook, NormParams, NormSite } from './graph.ts';
import { HookTable } from './hooks.ts';

/**
 * RMSNorm in one kernel (inputs {x [..., d], weight [d]}, attrs {eps}), registered by tensor platform adapters where
 * it pays: inference uses it instead of six ops per norm; training keeps the composed ops for autodiff.
 */
export const RMS_NORM_KERNEL = 'PeftkitRmsNorm';

export interface NormSiteOptions {
  readonly layer: number | null;
  readonly normKind: 'rms' | 'layer';
  readonly eps: number;
  readonly weight: Variable;
  /** LayerNorm's bias; omitted or null for RMSNorm. */
  readonly bias?: Variable | null;
}

export function createNormSite(name: string, options: NormSiteOptions): NormSite {
  const { layer, normKind, eps, weight } = options;
  const bias = options.bias ?? null;
  return {
    kind: 'norm',
    name,
    layer,
    normKind,
    dim: weight.shape[0] as number,
    eps,
    weight,
    bias,
    hooks: new HookTable<NormHook>(name),
  };
}

/** The normalised input before the affine step, with the exact ops (and order) the models always used. */
function normalize(tf: Tf, site: NormSite, x: Tensor): Tensor {
  if (site.normKind === 'rms') return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), site.eps)));
  const centered = tf.sub(x, tf.mean(x, -1, true));
  return tf.mul(centered, tf.rsqrt(tf.add(tf.mean(tf.square(centered), -1, true), site.eps)));
}

function affine(tf: Tf, normalized: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const y = tf.mul(normalized, weight);
  return bias === null ? y : tf.add(y, bias);
}

/** Folds the hooks of `adapters` (in order) into the parameters their rows use. */
function paramsFor(tf: Tf, site: NormSite, adapters: readonly string[], call: ForwardCall): NormParams {
  let params: NormParams = { weight: site.weight as Tensor1D, bias: site.bias as Tensor1D | null };
  for (const name of adapters) {
    const current = params;
    const update = site.hooks.call(name, 'params', (hook) => hook.params(current, call));
    if (update === undefined) continue;
    const pick = (given: Tensor | undefined, was: Tensor1D | null): Tensor1D | null => {
      if (given === undefined) return was;
      if (update.mode === 'replace' || was === null) return tf.reshape(given, [site.dim]) as Tensor1D;
      return tf.add(was, tf.reshape(given, [site.dim])) as Tensor1D;
    };
    params = { weight: pick(update.weight, current.weight) as Tensor1D, bias: pick(update.bias, current.bias) };
  }
  return params;
}

/**
 * Runs a norm site on x [B, S, dim]. Without a hooked adapter in the call this is the plain norm. Otherwise x is
 * normalised once for the whole batch and each row gets the affine parameters of its adapter (gathered per row),
 * so a mixed batch equals per-row calls. Must run inside a tidy scope.
 */
export function runNorm(tf: Tf, site: NormSite, x: Tensor3D, call: ForwardCall): Tensor3D {
  const hooks = site.hooks;
  const hooked = (adapters: readonly string[]) => adapters.some((name) => hooks.has(name));
  const groups = hooks.size === 0 ? [] : call.groups.filter((g) => hooked(g.adapters));
  const first = groups[0];
  if (first === undefined && fusable(tf, site, x, call)) return fusedRms(tf, x, site.weight, site.eps);
  const normalized = normalize(tf, site, x);
  if (first === undefined) return affine(tf, normalized, site.weight, site.bias) as Tensor3D;
  if (groups.length === 1 && first.rows === null) {
    const p = paramsFor(tf, site, first.adapters, call);
    return affine(tf, normalized, p.weight, p.bias) as Tensor3D;
  }

  // Row r uses parameter set rowSet[r]; set 0 is the base, for rows no hooked adapter selected.
  const sets: NormParams[] = [{ weight: site.weight as Tensor1D, bias: site.bias as Tensor1D | null }];
  const rowSet = new Int32Array(call.batchSize);
  for (const group of groups) {
    sets.push(paramsFor(tf, site, group.adapters, call));
    const rows = group.rows ?? Array.from({ length: call.batchSize }, (_, i) => i);
    for (const r of rows) rowSet[r] = sets.length - 1;
  }
  const index = tf.tensor1d(rowSet, 'int32');
  const perRow = (tensors: Tensor[]) => tf.reshape(tf.gather(tf.stack(tensors), index), [call.batchSize, 1, site.dim]);
  const weight = perRow(sets.map((s) => s.weight));
  const withBias = sets.some((s) => s.bias !== null);
  const bias = withBias ? perRow(sets.map((s) => s.bias ?? tf.zeros([site.dim]))) : null;
  return affine(tf, normalized, weight, bias) as Tensor3D;
}

function fusable(tf: Tf, site: NormSite, x: Tensor, call: ForwardCall): boolean {
  const plainRms = site.normKind === 'rms' && site.bias === null && x.dtype === 'float32';
  return plainRms && !call.training && backendHasKernels(tf, RMS_NORM_KERNEL);
}

/** The fused forward; its gradient (for callers differentiating an inference forward) from the composed formula. */
function fusedRms(tf: Tf, x: Tensor3D, weight: Variable, eps: number): Tensor3D {
  const fn = tf.customGrad((...inputs) => {
    const [xs, w] = inputs as [Tensor, Tensor];
    (inputs[2] as (tensors: Tensor[]) => void)([xs, w]);
    const value = tf.engine().runKernel(RMS_NORM_KERNEL, { x: xs, weight: w }, { eps }) as Tensor;
    // y = x · r · w, r = (mean(x²) + eps)^-½: dx = r · g − x · r³ · mean(g · x) with g = dy · w; dw = Σ dy · x · r.
    const gradFunc = (dy: Tensor, saved: Tensor[]): Tensor[] => {
      const [sx, sw] = saved as [Tensor, Tensor];
      const r = tf.rsqrt(tf.add(tf.mean(tf.square(sx), -1, true), eps));
      const g = tf.mul(dy, sw);
      const dx = tf.sub(tf.mul(g, r), tf.mul(tf.mul(sx, tf.pow(r, 3)), tf.mean(tf.mul(g, sx), -1, true)));
      const dw = tf.sum(tf.reshape(tf.mul(dy, tf.mul(sx, r)), [-1, sw.shape[0] as number]), 0);
      return [dx, dw];
    };
    return { value, gradFunc };
  });
  return fn(x, weight) as Tensor3D;
}
