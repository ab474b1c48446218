import type { Tensor, Tensor3D } from '@tensorflow/tfjs-core';
import { backendHasKernels, type Tf } from '@peftkit/core';

/** A backend's one-pass pick (adapters/tensor/kernels/wasm-greedy.ts): first arg-max and p there, per row. */
const FUSED = 'PeftkitGreedyPick';

/** Each row's greedy token and its log-probability under the model's distribution (null when not asked for). */
export interface GreedyPicks {
  ids: Int32Array;
  logprobs: Float64Array | null;
}

/**
 * Greedy picks on the backend, from the last position of logits [batch, seq, vocab] (disposed here): the arg-max
 * (the first one on ties, as the host's `argmax`) and its log-probability, log softmax there = −log Σ exp(x − max).
 * Two numbers per row come back instead of the vocabulary: at 32000 tokens and batch 8 the host copy, a JS arg-max
 * and a Math.exp per logit cost ~5 ms per decode step (bench/RESULTS.md), a quarter of the step. After the Softmax,
 * the backend's one-pass kernel finds both where it has one; otherwise ArgMax and a gather. Without `logprobs` the
 * Softmax over the vocabulary is skipped (8 × 32000 exps: ~0.25 ms of a decode step at batch 8): the arg-max alone.
 */
export function greedyOnBackend(tf: Tf, logits: Tensor3D, logprobs = true): GreedyPicks {
  let picked: Tensor[] = [];
  try {
    if (!logprobs) {
      picked = tf.tidy(() => {
        const last = lastPosition(tf, logits);
        // The fused pick given the logits twice: its second output (the max logit) is not read.
        if (logits.dtype === 'float32' && backendHasKernels(tf, FUSED))
          return tf.engine().runKernel(FUSED, { logits: last, probs: last }) as Tensor[];
        return [tf.argMax(last, -1)];
      });
      return { ids: Int32Array.from((picked[0] as Tensor).dataSync() as Int32Array), logprobs: null };
    }
    if (logits.dtype === 'float32' && backendHasKernels(tf, FUSED)) {
      picked = tf.tidy(() => {
        const last = lastPosition(tf, logits);
        return tf.engine().runKernel(FUSED, { logits: last, probs: tf.softmax(last) }) as Tensor[];
      });
    } else {
      picked = tf.tidy(() => {
        const last = lastPosition(tf, logits);
        const [rows, vocab] = last.shape as [number, number];
        const ids = tf.argMax(last, -1);
        // p at each row's arg-max (its largest probability), read by a flat gather: a Max over the softmax scanned
        // the whole vocabulary again.
        const flat = tf.add(ids, tf.range(0, rows * vocab, vocab, 'int32'));
        return [ids, tf.gather(tf.reshape(tf.softmax(last), [rows * vocab]), flat)];
      });
    }
    const [ids, best] = picked as [Tensor, Tensor];
    const probs = best.dataSync() as Float32Array;
    return { ids: Int32Array.from(ids.dataSync() as Int32Array), logprobs: Float64Array.from(probs, Math.log) };
  } finally {
    logits.dispose();
    for (const t of picked) t.dispose();
  }
}

/**
 * softmax(logits / temperature) of the last position, computed on the backend and read back [batch · vocab] (logits
 * disposed here): temperature sampling with nothing cut off then needs no exp on the host (a Math.exp per logit,
 * ~1.2 ms per row at 32000 tokens).
 */
export function probabilitiesOnBackend(tf: Tf, logits: Tensor3D, temperature: number): Float32Array {
  try {
    const probs = tf.tidy(() => tf.softmax(tf.div(lastPosition(tf, logits), temperature)));
    try {
      return probs.dataSync() as Float32Array;
    } finally {
      probs.dispose();
    }
  } finally {
    logits.dispose();
  }
}

/** The last position's logits [batch · vocab] on the host (logits disposed here). */
export function lastLogitsOnHost(logits: Tensor3D): Float32Array {
  try {
    const [batch, seq, vocab] = logits.shape;
    const all = logits.dataSync() as Float32Array;
    if (seq === 1) return all; // sampleToken copies before it changes anything
    const last = new Float32Array(batch * vocab);
    for (let b = 0; b < batch; b++)
      last.set(all.subarray((b * seq + seq - 1) * vocab, (b * seq + seq) * vocab), b * vocab);
    return last;
  } finally {
    logits.dispose();
  }
}

function lastPosition(tf: Tf, logits: Tensor3D): Tensor {
  const [batch, seq, vocab] = logits.shape;
  const last = seq === 1 ? logits : tf.slice(logits, [0, seq - 1, 0], [batch, 1, vocab]);
  return tf.reshape(last, [batch, vocab]);
}
