import { PeftkitError } from '@peftkit/io';
import type { Llama2cVocab } from './llama2c-file.ts';

/**
 * Builds a Hugging Face `tokenizer.json` equivalent to a llama2.c vocab: the SentencePiece-style BPE layout
 * that Llama 1/2 ship (byte_fallback, `▁` for spaces, Prepend+Replace normalizer, no pre-tokenizer).
 *
 * Merges are derived from scores: every way to split a token into two vocab tokens becomes a merge, ranked by
 * the token's score (highest first). BPE then applies the lowest-rank pair, leftmost on ties, which is
 * llama2.c's "highest-scoring concatenation, leftmost on ties" as long as no two reachable tokens share a score.
 *
 * Not equivalent (documented, tested where practical):
 * - input containing U+2581 `▁`: llama2.c treats it as a character, HF reads it as a space;
 * - input containing the literal special-token text `<unk>`, `<s>`, `</s>`: HF maps it to the special id;
 * - ties, in principle: two different tokens with equal scores mergeable at once, or one token mergeable by two
 *   different splits at once (`ab|a|ba`: "ab"+"a" vs "a"+"ba"). llama2.c takes the leftmost pair, BPE the lower
 *   rank. tok512.bin has no equal scores among mergeable tokens (its shared score 0 belongs to specials and
 *   bytes), and random-text tests found no split tie; other vocabs may differ.
 */
export interface HfTokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: HfAddedToken[];
  normalizer: unknown;
  pre_tokenizer: null;
  post_processor: unknown;
  decoder: unknown;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: string;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: [string, string][];
  };
}

export interface HfAddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface SpecialIds {
  unk: number;
  bos: number;
  eos: number;
}

const SPACE_MARK = '\u2581';

function addedToken(id: number, content: string): HfAddedToken {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** Ranked merges: all two-way splits into vocab tokens, by the merged token's score, then id, then split point. */
function deriveMerges(
  pieces: readonly string[],
  scores: Float32Array,
  special: ReadonlySet<number>,
): [string, string][] {
  const ids = new Map<string, number>();
  pieces.forEach((p, id) => {
    if (!special.has(id) && !ids.has(p)) ids.set(p, id);
  });
  const found: { score: number; id: number; at: number; left: string; right: string }[] = [];
  pieces.forEach((piece, id) => {
    if (special.has(id) || ids.get(piece) !== id) return;
    const chars = Array.from(piece);
    for (let at = 1; at < chars.length; at++) {
      const left = chars.slice(0, at).join('');
      const right = chars.slice(at).join('');
      if (ids.has(left) && ids.has(right)) found.push({ score: scores[id] as number, id, at, left, right });
    }
  });
  found.sort((a, b) => b.score - a.score || a.id - b.id || a.at - b.at);
  return found.map((m) => [m.left.replaceAll(' ', SPACE_MARK), m.right.replaceAll(' ', SPACE_MARK)]);
}

export function llama2cToHfTokenizerJson(vocab: Llama2cVocab, ids: SpecialIds): HfTokenizerJson {
  const names = new Map<number, string>([
    [ids.unk, '<unk>'],
    [ids.bos, '<s>'],
    [ids.eos, '</s>'],
  ]);
  const hfVocab: Record<string, number> = Object.create(null);
  vocab.pieces.forEach((piece, id) => {
    const name = names.get(id) ?? piece.replaceAll(' ', SPACE_MARK);
    if (name in hfVocab) {
      throw new PeftkitError(
        'PEFTKIT_E_TOKENIZER_HF_EXPORT',
        `pieces ${hfVocab[name]} and ${id} both map to ${JSON.stringify(name)}`,
        {
          id,
          other: hfVocab[name],
          piece: name,
        },
      );
    }
    hfVocab[name] = id;
  });
  const special = new Set(names.keys());
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...names].sort((a, b) => a[0] - b[0]).map(([id, content]) => addedToken(id, content)),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPACE_MARK },
        { type: 'Replace', pattern: { String: ' ' }, content: SPACE_MARK },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [ids.bos], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE_MARK }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: { ...hfVocab },
      merges: deriveMerges(vocab.pieces, vocab.scores, special),
    },
  };
}

/** `tokenizer_config.json` to go with it: Llama conventions (BOS added by default, no cleanup of spaces). */
export function llama2cHfTokenizerConfig(): Record<string, unknown> {
  return {
    tokenizer_class: 'LlamaTokenizerFast',
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    legacy: true,
  };
}
