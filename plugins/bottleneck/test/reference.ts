import type { ModelGraph, SiteHook, Tf } from '@peftkit/core';

/**
 * An independent plain-JS implementation of AdapterHub's bottleneck adapter (pre_forward + forward, `modeling.py`),
 * attached as a hook under its own adapter name, so tests can compare the plugin against the formula.
 */

export interface RefWeights {
  down: Float32Array; // [b, d]
  downBias: Float32Array; // [b]
  up: Float32Array; // [d, b]
  upBias: Float32Array; // [d]
}

export interface RefConfig {
  original_ln_before: boolean;
  residual_before_ln: boolean | 'post_add';
  non_linearity: 'relu' | 'swish';
  scaling?: number;
}

const act = (f: RefConfig['non_linearity'], x: number): number =>
  f === 'relu' ? Math.max(0, x) : x / (1 + Math.exp(-x));

function layerNormRow(x: Float64Array, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  const n = x.length;
  let mean = 0;
  for (const v of x) mean += v / n;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2 / n;
  const inv = 1 / Math.sqrt(variance + eps);
  return Float64Array.from(x, (v, i) => (v - mean) * inv * (w[i] as number) + (b[i] as number));
}

/** h' for one token: residual input r, sub-layer output h. */
export function referenceToken(
  c: RefConfig,
  p: RefWeights,
  r: ArrayLike<number>,
  h: ArrayLike<number>,
  norm?: { w: Float32Array; b: Float32Array; eps: number },
): Float64Array {
  const d = h.length;
  const bdim = p.downBias.length;
  let hidden: Float64Array = Float64Array.from(h as ArrayLike<number>);
  let residual: Float64Array = Float64Array.from(h as ArrayLike<number>);
  if (c.original_ln_before) {
    hidden = Float64Array.from(hidden, (v, i) => v + (r[i] as number));
    if (c.residual_before_ln === 'post_add') residual = hidden.slice();
    if (norm) hidden = layerNormRow(hidden, norm.w, norm.b, norm.eps);
  }
  if (c.residual_before_ln === false) residual = hidden.slice();
  const a = new Float64Array(bdim);
  for (let j = 0; j < bdim; j++) {
    let s = p.downBias[j] as number;
    for (let i = 0; i < d; i++) s += (p.down[j * d + i] as number) * (hidden[i] as number);
    a[j] = act(c.non_linearity, s);
  }
  const out = new Float64Array(d);
  for (let k = 0; k < d; k++) {
    let s = p.upBias[k] as number;
    for (let j = 0; j < bdim; j++) s += (p.up[k * bdim + j] as number) * (a[j] as number);
    out[k] = s * (c.scaling ?? 1) + (residual[k] as number);
  }
  return out;
}

/** Attaches the reference as adapter `name` on the given block sites (site name → weights). */
export function attachReference(
  tf: Tf,
  model: ModelGraph,
  name: string,
  c: RefConfig,
  weights: ReadonlyMap<string, RefWeights>,
  norms?: ReadonlyMap<string, { w: Float32Array; b: Float32Array; eps: number }>,
): () => void {
  const attached: string[] = [];
  for (const [siteName, p] of weights) {
    const site = model.site(siteName);
    if (site?.kind !== 'block') throw new Error(`no block site ${siteName}`);
    const hook: SiteHook = {
      apply: (input, output) => {
        const r = input.dataSync() as Float32Array;
        const h = output.dataSync() as Float32Array;
        const d = output.shape[2];
        const out = new Float32Array(h.length);
        for (let t = 0; t < h.length / d; t++) {
          out.set(
            referenceToken(c, p, r.subarray(t * d, (t + 1) * d), h.subarray(t * d, (t + 1) * d), norms?.get(siteName)),
            t * d,
          );
        }
        return tf.tensor3d(out, output.shape);
      },
    };
    site.hooks.attach(name, hook);
    attached.push(siteName);
  }
  return () => {
    for (const s of attached) model.site(s)?.hooks.detach(name);
  };
}
