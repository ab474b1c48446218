import { type BlockSite, dropout, type ForwardCall, type MethodContext, type Rng, type Tf } from '@peftkit/core';
import type { Tensor, Tensor2D, Tensor3D, Variable } from '@peftkit/core';
import type { BottleneckConfig, NonLinearity } from './config.ts';

/** The pretrained LayerNorm a post-norm model (BERT) applies after the sub-layer; null for pre-norm models. */
export interface OriginalNorm {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly eps: number;
}

export interface AffineNorm {
  readonly weight: Variable;
  readonly bias: Variable;
}

/**
 * One bottleneck adapter at one block site: LN? → down Linear → f → up Linear → ·scaling → dropout, + residual (→ LN?).
 */
export interface BottleneckLayer {
  readonly site: BlockSite;
  readonly bottleneck: number;
  readonly down: Variable;
  readonly downBias: Variable;
  readonly up: Variable;
  readonly upBias: Variable;
  readonly lnBefore: AffineNorm | null;
  readonly lnAfter: AffineNorm | null;
  readonly originalNorm: OriginalNorm | null;
}

/** Adapter LayerNorms use torch's default eps. */
const ADAPTER_LN_EPS = 1e-5;

function variable(tf: Tf, values: Float32Array, shape: number[]): Variable {
  const init = tf.tensor(values, shape, 'float32');
  const v = tf.variable(init, true);
  init.dispose();
  return v;
}

/** torch `trunc_normal_(std=0.01, a=-0.02, b=0.02)`: normal samples redrawn until inside the bounds. */
function truncatedNormal(rng: Rng, n: number, std: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.normal() * std;
    while (v < -bound || v > bound) v = rng.normal() * std;
    out[i] = v;
  }
  return out;
}

/** AdapterHub's three initialisations of the down [b, d] and up [d, b] weights; biases always start at zero. */
function initWeights(
  rng: Rng,
  init: BottleneckConfig['init_weights'],
  d: number,
  b: number,
): { down: Float32Array; up: Float32Array } {
  if (init === 'mam_adapter') {
    // kaiming_uniform_(a=√5) on a [b, d] weight is U(±1/√d); the zero
    // up-projection makes the adapter an exact identity.
    const bound = 1 / Math.sqrt(d);
    return { down: rng.uniformArray(b * d, -bound, bound), up: new Float32Array(d * b) };
  }
  if (init === 'houlsby')
    return { down: truncatedNormal(rng, b * d, 0.01, 0.02), up: truncatedNormal(rng, d * b, 0.01, 0.02) };
  return { down: rng.normalArray(b * d, 0, 0.02), up: rng.normalArray(d * b, 0, 0.02) };
}

export function createLayer(
  ctx: MethodContext,
  config: BottleneckConfig,
  site: BlockSite,
  bottleneck: number,
  originalNorm: OriginalNorm | null,
): BottleneckLayer {
  const { tf } = ctx;
  const d = site.dim;
  const init = initWeights(ctx.rng, config.init_weights, d, bottleneck);
  const norm = (): AffineNorm => ({
    weight: variable(tf, new Float32Array(d).fill(1), [d]),
    bias: variable(tf, new Float32Array(d), [d]),
  });
  return {
    site,
    bottleneck,
    lnBefore: config.ln_before ? norm() : null,
    down: variable(tf, init.down, [bottleneck, d]),
    downBias: variable(tf, new Float32Array(bottleneck), [bottleneck]),
    up: variable(tf, init.up, [d, bottleneck]),
    upBias: variable(tf, new Float32Array(d), [d]),
    lnAfter: config.ln_after ? norm() : null,
    originalNorm,
  };
}

/** Variables of a layer in AdapterHub's parameter order. */
export function layerVariables(layer: BottleneckLayer): Variable[] {
  const out: Variable[] = [];
  if (layer.lnBefore) out.push(layer.lnBefore.weight, layer.lnBefore.bias);
  out.push(layer.down, layer.downBias, layer.up, layer.upBias);
  if (layer.lnAfter) out.push(layer.lnAfter.weight, layer.lnAfter.bias);
  return out;
}

export function disposeLayer(layer: BottleneckLayer): void {
  for (const v of layerVariables(layer)) v.dispose();
}

function layerNorm(tf: Tf, x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  const mean = tf.mean(x, -1, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), -1, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), weight), bias);
}

export function activate(tf: Tf, x: Tensor, f: NonLinearity): Tensor {
  switch (f) {
    case 'relu':
      return tf.relu(x);
    case 'swish':
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
    case 'gelu':
      return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'gelu_new': {
      const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
    }
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'leakyrelu':
      return tf.leakyRelu(x, 0.01);
  }
}

/**
 * AdapterHub's `pre_forward` + `forward` for the rows of one adapter. `residualInput` is what the model adds the
 * returned value to (its `input_tensor`), `output` the sub-layer output; the model then applies its residual (and
 * post-norm) itself, which is AdapterHub's `post_forward` with `original_ln_after`. Runs inside the model's tidy.
 */
export function bottleneckForward(
  tf: Tf,
  config: BottleneckConfig,
  layer: BottleneckLayer,
  residualInput: Tensor3D,
  output: Tensor3D,
  call: ForwardCall,
): Tensor3D {
  let hidden: Tensor = output;
  let residual: Tensor = output;
  if (config.original_ln_before) {
    hidden = tf.add(output, residualInput);
    if (config.residual_before_ln === 'post_add') residual = hidden;
    const norm = layer.originalNorm;
    if (norm !== null) hidden = layerNorm(tf, hidden, norm.weight, norm.bias, norm.eps);
  }
  if (config.residual_before_ln === false) residual = hidden;

  const [b, s, d] = output.shape;
  let x = hidden;
  if (layer.lnBefore) x = layerNorm(tf, x, layer.lnBefore.weight, layer.lnBefore.bias, ADAPTER_LN_EPS);
  const rows = tf.reshape(x, [b * s, d]) as Tensor2D;
  const down = activate(
    tf,
    tf.add(tf.matMul(rows, layer.down, false, true), layer.downBias),
    config.non_linearity,
  ) as Tensor2D;
  let up: Tensor = tf.reshape(tf.add(tf.matMul(down, layer.up, false, true), layer.upBias), [b, s, d]);
  if (config.scaling !== 1) up = tf.mul(up, config.scaling);
  let out = dropout(tf, up, config.dropout, call);
  if (config.adapter_residual_before_ln) out = tf.add(out, residual);
  if (layer.lnAfter) out = layerNorm(tf, out, layer.lnAfter.weight, layer.lnAfter.bias, ADAPTER_LN_EPS);
  if (!config.adapter_residual_before_ln) out = tf.add(out, residual);
  return out as Tensor3D;
}
