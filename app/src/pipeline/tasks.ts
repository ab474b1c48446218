import type { DataRecord } from '@peftkit/data';
import { prepareDataset } from '@peftkit/data';
import type { Tokenizer } from '@peftkit/core';
import type { TrainExample } from '@peftkit/core/train';
import { chunkText, spamAssassinEmails, stateOfTheUnion } from './corpora.ts';

/**
 * The two real fine-tuning tasks of the main job, each with its own method and held-out metric:
 *  - `sotu-style` (bottleneck adapter): adapt a Moby-Dick model to the language of State of the Union addresses;
 *    metric: held-out loss (and perplexity) on addresses the adapter never saw.
 *  - `spam-filter` (LoRA): read an e-mail, answer ` spam` or ` ham`; metric: held-out accuracy, scoring both
 *    answers by likelihood (so the base model is measured the same way).
 */

export interface TaskSizes {
  /** Training examples (text chunks / e-mails). */
  readonly train: number;
  readonly eval: number;
}

export interface LanguageTask {
  readonly kind: 'language';
  readonly name: string;
  readonly title: string;
  readonly train: TrainExample[];
  readonly eval: TrainExample[];
  /** A prompt to show off the adapter. */
  readonly samplePrompt: string;
}

export interface ChoiceTask {
  readonly kind: 'choice';
  readonly name: string;
  readonly title: string;
  readonly train: TrainExample[];
  readonly eval: TrainExample[];
  /** Held-out prompts with the index of the right answer in `choices`. */
  readonly questions: readonly { readonly prompt: string; readonly answer: number }[];
  readonly choices: readonly string[];
  readonly samplePrompt: string;
}

export type PipelineTask = LanguageTask | ChoiceTask;

const source = (file: string, line: number) => ({ file, line });

/** Modern addresses (1946 on), chunked; every fifth address is held out whole, so eval text is unseen. */
export function sotuTask(tokenizer: Tokenizer, sizes: TaskSizes, maxLength: number): LanguageTask {
  const addresses = stateOfTheUnion().filter((a) => a.year >= 1946);
  const chunks = (which: 'train' | 'eval') =>
    addresses
      .filter((_, i) => (i % 5 === 4) === (which === 'eval'))
      .flatMap((a) => chunkText(a.text, maxLength * 3).map((text) => ({ text, year: a.year })));
  const records = (list: { text: string; year: number }[], n: number): DataRecord[] => {
    // take evenly spaced chunks so every era is represented
    const step = Math.max(1, list.length / n);
    return Array.from(
      { length: Math.min(n, list.length) },
      (_, i) => list[Math.floor(i * step)] as { text: string; year: number },
    ).map((c, i) => ({
      format: 'text',
      text: c.text,
      source: source(`sotu-${c.year}`, i + 1),
    }));
  };
  const tokenize = (recs: DataRecord[]) =>
    prepareDataset('text', recs, { tokenizer }, { maxLength, evalCount: 0, shuffle: false }).train;
  return {
    kind: 'language',
    name: 'sotu-style',
    title: 'State of the Union style (held-out addresses)',
    train: tokenize(records(chunks('train'), sizes.train)),
    eval: tokenize(records(chunks('eval'), sizes.eval)),
    samplePrompt: 'My fellow Americans, the state of our Union',
  };
}

export const SPAM_CHOICES = [' ham', ' spam'] as const;

export function spamPrompt(email: string): string {
  return `Email: ${email}\nVerdict:`;
}

/** Balanced SpamAssassin e-mails; train and eval are disjoint draws of one seeded shuffle. */
export function spamTask(tokenizer: Tokenizer, sizes: TaskSizes, maxLength: number): ChoiceTask {
  const emails = spamAssassinEmails(sizes.train + sizes.eval, { seed: 7, chars: Math.floor(maxLength * 2.2) });
  const evalEmails = emails
    .filter((_, i) => i % (Math.round((sizes.train + sizes.eval) / sizes.eval) || 1) === 0)
    .slice(0, sizes.eval);
  const evalSet = new Set(evalEmails);
  const trainEmails = emails.filter((e) => !evalSet.has(e));
  const records = (list: typeof emails): DataRecord[] =>
    list.map((e, i) => ({
      format: 'completion',
      prompt: spamPrompt(e.text),
      completion: SPAM_CHOICES[e.spam ? 1 : 0],
      source: source('spamassassin', i + 1),
    }));
  const tokenize = (list: typeof emails) =>
    prepareDataset('completion', records(list), { tokenizer }, { maxLength, evalCount: 0, shuffle: false }).train;
  return {
    kind: 'choice',
    name: 'spam-filter',
    title: 'SpamAssassin spam vs ham (held-out e-mails)',
    train: tokenize(trainEmails),
    eval: tokenize(evalEmails),
    questions: evalEmails.map((e) => ({ prompt: spamPrompt(e.text), answer: e.spam ? 1 : 0 })),
    choices: SPAM_CHOICES,
    samplePrompt: spamPrompt(
      'Congratulations! You have been selected to receive a FREE vacation. Click here to claim your prize now.',
    ),
  };
}
