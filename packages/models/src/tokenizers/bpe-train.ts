import { PeftkitError } from '@peftkit/io';

/**
 * Trains a byte-level BPE vocabulary (the GPT-2 scheme) from plain text: bytes are mapped to printable characters,
 * text is pre-split with GPT-2's pattern, and the most frequent adjacent pair is merged until the vocabulary is
 * full. The result is GPT-2's own pair of files (encoder.json, vocab.bpe) as data, so the same converter that
 * turns GPT-2's files into a tokenizer.json serves our models too. Deterministic: ties go to the smaller pair ids.
 */

/** GPT-2's pre-tokenizer pattern (contractions, letter runs, digit runs, punctuation runs, whitespace). */
export const GPT2_SPLIT_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's reversible byte → character table: printable Latin-1 bytes map to themselves, the rest to U+0100… */
export function byteToUnicode(): string[] {
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return table;
}

export interface BpeTrainOptions {
  /** Final vocabulary size including the 256 byte symbols and the special tokens. */
  readonly vocabSize: number;
  /** Pairs seen fewer times are never merged (default 2). */
  readonly minFrequency?: number;
  /** Appended after the merges, in order (e.g. `<|endoftext|>`). */
  readonly specialTokens?: readonly string[];
}

export interface BpeVocabulary {
  /** token (byte-level characters) → id, as GPT-2's encoder.json. */
  readonly encoder: Record<string, number>;
  /** Merge rules in priority order, each `left right`, as the lines of GPT-2's vocab.bpe. */
  readonly merges: readonly string[];
}

/** The text of a vocab.bpe file for `merges`. */
export function mergesFileText(merges: readonly string[]): string {
  return `#version: 0.2\n${merges.join('\n')}\n`;
}

export function trainByteLevelBpe(texts: Iterable<string>, options: BpeTrainOptions): BpeVocabulary {
  const specials = options.specialTokens ?? [];
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(options.vocabSize) || options.vocabSize < 256 + specials.length) {
    throw new PeftkitError('PEFTKIT_E_TOKENIZER_TRAIN', `vocabSize must be an integer ≥ ${256 + specials.length}`, {
      vocabSize: options.vocabSize,
    });
  }
  const bytes = byteToUnicode();
  const symbols: string[] = [...bytes];
  const symbolIds = new Map(symbols.map((s, i) => [s, i]));
  const encoder = new TextEncoder();

  // unique pre-tokenized words as symbol-id sequences, with their frequencies
  const wordIndex = new Map<string, number>();
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const text of texts) {
    for (const match of text.matchAll(GPT2_SPLIT_PATTERN)) {
      const piece = match[0];
      const known = wordIndex.get(piece);
      if (known !== undefined) {
        freqs[known] = (freqs[known] as number) + 1;
        continue;
      }
      wordIndex.set(piece, words.length);
      words.push([...encoder.encode(piece)]);
      freqs.push(1);
    }
  }

  const width = options.vocabSize; // pair key = left * width + right
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: 1 | -1): void => {
    const word = words[w] as number[];
    const f = (freqs[w] as number) * sign;
    for (let i = 0; i + 1 < word.length; i++) {
      const key = (word[i] as number) * width + (word[i + 1] as number);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + f);
      if (sign === 1) {
        const set = pairWords.get(key);
        if (set === undefined) pairWords.set(key, new Set([w]));
        else set.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1);

  const merges: string[] = [];
  const target = options.vocabSize - specials.length;
  while (symbols.length < target) {
    let best = -1;
    let bestCount = 0;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && count > 0 && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best < 0 || bestCount < minFrequency) break;
    const left = Math.floor(best / width);
    const right = best % width;
    const text = (symbols[left] as string) + (symbols[right] as string);
    // two different merges can spell the same token ("ab c", "a bc"): they share its id, as in Hugging Face's trainer
    let merged = symbolIds.get(text);
    if (merged === undefined) {
      merged = symbols.length;
      symbols.push(text);
      symbolIds.set(text, merged);
    }
    merges.push(`${symbols[left]} ${symbols[right]}`);
    for (const w of pairWords.get(best) ?? []) {
      addPairs(w, -1);
      const word = words[w] as number[];
      const next: number[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && word[i] === left && word[i + 1] === right) {
          next.push(merged);
          i++;
        } else next.push(word[i] as number);
      }
      words[w] = next;
      addPairs(w, 1);
    }
    pairWords.delete(best);
    pairCounts.delete(best);
    // drop pairs whose count fell to zero so the scan stays short
    for (const [key, count] of pairCounts) if (count <= 0) pairCounts.delete(key);
  }

  const vocab: Record<string, number> = {};
  for (const [id, symbol] of symbols.entries()) vocab[symbol] = id;
  for (const special of specials) vocab[special] = Object.keys(vocab).length;
  return { encoder: vocab, merges };
}
