import type { Tensor3D } from '@tensorflow/tfjs-core';
import type { ForwardInput, ForwardOptions } from '@peftkit/core';
import type { AdapterSelection } from '@peftkit/core';
import type { Tf } from '@peftkit/core';
import type { Tokenizer } from '@peftkit/core';

export interface ScorableModel {
  forward(input: ForwardInput, options?: ForwardOptions): Tensor3D;
}

/**
 * Token ids of `prompt + answer`, split where the prompt's own encoding stops; the prompt is cut from its start to fit.
 */
export function promptAnswerIds(
  tokenizer: Tokenizer,
  prompt: string,
  answer: string,
  maxLength: number,
): { ids: number[]; answerStart: number } {
  const promptIds = tokenizer.encode(prompt);
  const full = tokenizer.encode(prompt + answer);
  let shared = 0;
  while (shared < promptIds.length && shared < full.length && promptIds[shared] === full[shared]) shared++;
  const answerIds = full.slice(shared);
  const keep = Math.max(1, maxLength - answerIds.length);
  const head = full.slice(0, shared).slice(-keep);
  return { ids: [...head, ...answerIds], answerStart: head.length };
}

/**
 * Sum of log-probabilities of each answer's tokens given its prompt, for many (prompt, answer) pairs, in batches
 * (right padding, masked). Used to score multiple-choice answers the same way for the base and for an adapter.
 */
export function answerLogProbs(
  tf: Tf,
  model: ScorableModel,
  pairs: readonly { readonly ids: readonly number[]; readonly answerStart: number }[],
  options: { padId: number; batchSize: number; selection?: AdapterSelection },
): number[] {
  const scores: number[] = [];
  for (let start = 0; start < pairs.length; start += options.batchSize) {
    const batch = pairs.slice(start, start + options.batchSize);
    const width = Math.max(...batch.map((p) => p.ids.length));
    const ids = batch.map((p) => [...p.ids, ...new Array<number>(width - p.ids.length).fill(options.padId)]);
    const mask = batch.map((p) => [...p.ids.map(() => 1), ...new Array<number>(width - p.ids.length).fill(0)]);
    // rows of the flattened [b·s, v] log-probs that predict an answer token, and the token each one must predict
    const rows: number[] = [];
    const targets: number[] = [];
    const owner: number[] = [];
    for (const [b, p] of batch.entries()) {
      for (let t = Math.max(1, p.answerStart); t < p.ids.length; t++) {
        rows.push(b * width + t - 1);
        targets.push(p.ids[t] as number);
        owner.push(b);
      }
    }
    const picked = tf.tidy(() => {
      const logits = model.forward({ ids, mask }, options.selection ? { selection: options.selection } : {});
      const vocab = logits.shape[2];
      const logp = tf.logSoftmax(tf.reshape(logits, [batch.length * width, vocab]));
      const chosen = tf.gather(logp, tf.tensor1d(rows, 'int32'));
      return tf.sum(tf.mul(chosen, tf.oneHot(tf.tensor1d(targets, 'int32'), vocab)), 1);
    });
    const values = picked.dataSync();
    picked.dispose();
    const sums = new Array<number>(batch.length).fill(0);
    for (const [k, b] of owner.entries()) sums[b] = (sums[b] as number) + (values[k] as number);
    scores.push(...sums);
  }
  return scores;
}

/** Accuracy of picking the most likely answer among `choices` for each question. */
export function choiceAccuracy(
  tf: Tf,
  model: ScorableModel,
  tokenizer: Tokenizer,
  questions: readonly { readonly prompt: string; readonly answer: number }[],
  choices: readonly string[],
  options: { padId: number; batchSize: number; maxLength: number; selection?: AdapterSelection },
): { accuracy: number; predictions: number[] } {
  const pairs = questions.flatMap((q) =>
    choices.map((c) => promptAnswerIds(tokenizer, q.prompt, c, options.maxLength)),
  );
  const scores = answerLogProbs(tf, model, pairs, options);
  const predictions = questions.map((_, i) => {
    const own = scores.slice(i * choices.length, (i + 1) * choices.length);
    return own.indexOf(Math.max(...own));
  });
  const correct = predictions.filter((p, i) => p === questions[i]?.answer).length;
  return { accuracy: questions.length === 0 ? Number.NaN : correct / questions.length, predictions };
}
