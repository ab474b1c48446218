import { dropout, type ForwardCall, type Tf } from '@peftkit/core';
import type { Tensor, Tensor2D } from '@peftkit/prompt-tuning';
import type { LinearParams, LstmDirection, PromptEncoder } from './types.ts';

/**
 * PEFT's PromptEncoder forward on the virtual-token embeddings, composed from ops that have peftkit gradients
 * (matMul, sigmoid, tanh, relu, slice, concat, reverse). Runs inside the model's tidy scope.
 */

function linear(tf: Tf, x: Tensor2D, l: LinearParams): Tensor2D {
  return tf.add(tf.matMul(x, l.weight as Tensor2D, false, true), l.bias) as Tensor2D;
}

/** One LSTM direction over x [T, in] (batch of one sequence); returns the hidden states [T, h] in input order. */
export function lstmDirection(tf: Tf, x: Tensor2D, p: LstmDirection, hidden: number, reverse: boolean): Tensor2D {
  const steps = x.shape[0];
  // The input projection of every step at once: [T, 4h].
  const projected = tf.add(tf.add(tf.matMul(x, p.weightIh as Tensor2D, false, true), p.biasIh), p.biasHh);
  let h: Tensor = tf.zeros([1, hidden]);
  let c: Tensor = tf.zeros([1, hidden]);
  const outputs: Tensor[] = new Array(steps);
  for (let n = 0; n < steps; n++) {
    const t = reverse ? steps - 1 - n : n;
    const gates = tf.add(
      tf.slice(projected, [t, 0], [1, 4 * hidden]),
      tf.matMul(h as Tensor2D, p.weightHh as Tensor2D, false, true),
    );
    const [i, f, g, o] = tf.split(gates, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
    c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
    h = tf.mul(tf.sigmoid(o), tf.tanh(c));
    outputs[t] = h;
  }
  return tf.concat(outputs, 0) as Tensor2D;
}

/** The encoder's output [num_virtual_tokens, token_dim]: what PEFT saves as `prompt_embeddings`. */
export function encodePrompt(tf: Tf, encoder: PromptEncoder, call: ForwardCall): Tensor2D {
  let x = encoder.embedding as Tensor2D;
  encoder.lstm.forEach((layer, k) => {
    if (k > 0) x = dropout(tf, x, encoder.dropout, call);
    const fwd = lstmDirection(tf, x, layer.forward, encoder.hiddenSize, false);
    const bwd = lstmDirection(tf, x, layer.backward, encoder.hiddenSize, true);
    x = tf.concat([fwd, bwd], 1) as Tensor2D;
  });
  encoder.mlp.forEach((l, i) => {
    x = linear(tf, x, l);
    if (i < encoder.mlp.length - 1) x = tf.relu(x) as Tensor2D;
  });
  return x;
}
