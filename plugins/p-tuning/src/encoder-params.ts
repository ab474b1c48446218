import type { MethodContext } from '@peftkit/core';
import type { Variable } from '@peftkit/prompt-tuning';
import type { LinearParams, LstmDirection, PromptEncoder } from './types.ts';

/** torch's default init: U(−1/√fanIn, 1/√fanIn) (Linear weights and biases, LSTM with fanIn = hidden size). */
function uniform(ctx: MethodContext, shape: number[], fanIn: number): Variable {
  const bound = 1 / Math.sqrt(fanIn);
  const size = shape.reduce((a, b) => a * b, 1);
  const t = ctx.tf.tensor(ctx.rng.uniformArray(size, -bound, bound), shape, 'float32');
  const v = ctx.tf.variable(t, true);
  t.dispose();
  return v;
}

function linear(ctx: MethodContext, inFeatures: number, outFeatures: number): LinearParams {
  return { weight: uniform(ctx, [outFeatures, inFeatures], inFeatures), bias: uniform(ctx, [outFeatures], inFeatures) };
}

function lstmDirection(ctx: MethodContext, input: number, hidden: number): LstmDirection {
  return {
    weightIh: uniform(ctx, [4 * hidden, input], hidden),
    weightHh: uniform(ctx, [4 * hidden, hidden], hidden),
    biasIh: uniform(ctx, [4 * hidden], hidden),
    biasHh: uniform(ctx, [4 * hidden], hidden),
  };
}

export interface EncoderShape {
  readonly type: 'MLP' | 'LSTM';
  readonly tokens: number;
  readonly dim: number;
  readonly hidden: number;
  readonly layers: number;
  readonly dropout: number;
}

/**
 * Creates PEFT's PromptEncoder parameters with torch's default initialisation (embedding N(0, 1)). Variables are
 * pushed to `owned` as they are created so that a failure part-way leaks nothing.
 */
export function createEncoder(ctx: MethodContext, s: EncoderShape, owned: Variable[]): PromptEncoder {
  const track = <T extends Record<string, Variable>>(params: T): T => {
    owned.push(...Object.values(params));
    return params;
  };
  const init = ctx.tf.tensor2d(ctx.rng.normalArray(s.tokens * s.dim, 0, 1), [s.tokens, s.dim], 'float32');
  const embedding = ctx.tf.variable(init, true);
  init.dispose();
  owned.push(embedding);
  const lstm: { forward: LstmDirection; backward: LstmDirection }[] = [];
  const mlp: LinearParams[] = [];
  if (s.type === 'MLP') {
    mlp.push(
      track({ ...linear(ctx, s.dim, s.hidden) }),
      track({ ...linear(ctx, s.hidden, s.hidden) }),
      track({ ...linear(ctx, s.hidden, s.dim) }),
    );
  } else {
    for (let layer = 0; layer < s.layers; layer++) {
      const input = layer === 0 ? s.dim : 2 * s.hidden;
      lstm.push({
        forward: track({ ...lstmDirection(ctx, input, s.hidden) }),
        backward: track({ ...lstmDirection(ctx, input, s.hidden) }),
      });
    }
    mlp.push(track({ ...linear(ctx, 2 * s.hidden, 2 * s.hidden) }), track({ ...linear(ctx, 2 * s.hidden, s.dim) }));
  }
  return { type: s.type, hiddenSize: s.hidden, dropout: s.dropout, embedding, lstm, mlp };
}

/**
 * Every encoder parameter under its PyTorch state-dict name (`prompt_encoder.` +
 * PEFT's module path, adapter name dropped).
 */
export function encoderParameters(encoder: PromptEncoder): [string, Variable][] {
  const out: [string, Variable][] = [['prompt_encoder.embedding.weight', encoder.embedding]];
  encoder.lstm.forEach((layer, k) => {
    for (const [suffix, dir] of [
      ['', layer.forward],
      ['_reverse', layer.backward],
    ] as const) {
      out.push([`prompt_encoder.lstm_head.weight_ih_l${k}${suffix}`, dir.weightIh]);
      out.push([`prompt_encoder.lstm_head.weight_hh_l${k}${suffix}`, dir.weightHh]);
      out.push([`prompt_encoder.lstm_head.bias_ih_l${k}${suffix}`, dir.biasIh]);
      out.push([`prompt_encoder.lstm_head.bias_hh_l${k}${suffix}`, dir.biasHh]);
    }
  });
  // nn.Sequential indices: Linear layers sit at 0, 2, 4 with ReLUs between them.
  encoder.mlp.forEach((l, i) => {
    out.push([`prompt_encoder.mlp_head.${2 * i}.weight`, l.weight]);
    out.push([`prompt_encoder.mlp_head.${2 * i}.bias`, l.bias]);
  });
  return out;
}
