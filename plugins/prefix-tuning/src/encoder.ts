import { dropout, type ForwardCall, type MethodContext, type Tf } from '@peftkit/core';
import type { PrefixGeometry } from './geometry.ts';
import type { PrefixEncoder, Tensor2D, Variable } from './types.ts';

/** PEFT's PrefixEncoder: creation with torch's default initialisation, and the [T, width] table it produces. */

function variable(ctx: MethodContext, values: Float32Array, shape: number[]): Variable {
  const init = ctx.tf.tensor(values, shape, 'float32');
  const v = ctx.tf.variable(init, true);
  init.dispose();
  return v;
}

/** torch.nn.Linear's default: weight and bias ~ U(±1/√in) (kaiming-uniform with a = √5). */
function linear(ctx: MethodContext, out: number, inp: number): { w: Variable; b: Variable } {
  const bound = 1 / Math.sqrt(inp);
  return {
    w: variable(ctx, ctx.rng.uniformArray(out * inp, -bound, bound), [out, inp]),
    b: variable(ctx, ctx.rng.uniformArray(out, -bound, bound), [out]),
  };
}

/** torch.nn.Embedding's default N(0, 1); flat: [T, width]; projected: [T, token_dim] plus the two linears. */
export function createEncoder(ctx: MethodContext, g: PrefixGeometry, projection: boolean): PrefixEncoder {
  const T = g.numVirtualTokens;
  if (!projection)
    return { embedding: variable(ctx, ctx.rng.normalArray(T * g.width), [T, g.width]), projection: null };
  const created: Variable[] = [];
  try {
    const embedding = variable(ctx, ctx.rng.normalArray(T * g.tokenDim), [T, g.tokenDim]);
    created.push(embedding);
    const first = linear(ctx, g.encoderHiddenSize, g.tokenDim);
    created.push(first.w, first.b);
    const second = linear(ctx, g.width, g.encoderHiddenSize);
    created.push(second.w, second.b);
    return { embedding, projection: { w1: first.w, b1: first.b, w2: second.w, b2: second.b } };
  } catch (error) {
    for (const v of created) v.dispose();
    throw error;
  }
}

export function encoderVariables(encoder: PrefixEncoder): Variable[] {
  const p = encoder.projection;
  return p === null ? [encoder.embedding] : [encoder.embedding, p.w1, p.b1, p.w2, p.b2];
}

/** The prompt_embeddings table [T, width]: the embedding itself, or tanh-MLP(embedding). Caller tidies. */
export function prefixTable(tf: Tf, encoder: PrefixEncoder): Tensor2D {
  const p = encoder.projection;
  if (p === null) return encoder.embedding as Tensor2D;
  const hidden = tf.tanh(
    tf.add(tf.matMul(encoder.embedding as Tensor2D, p.w1 as Tensor2D, false, true), p.b1),
  ) as Tensor2D;
  return tf.add(tf.matMul(hidden, p.w2 as Tensor2D, false, true), p.b2) as Tensor2D;
}

/** Inverted dropout on the prefix while training (THUDM P-Tuning v2); masks come from the call's seeded rng. */
export function prefixDropout(tf: Tf, table: Tensor2D, p: number, call: ForwardCall): Tensor2D {
  return dropout(tf, table, p, call);
}
