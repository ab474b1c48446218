import { PeftkitError } from '@peftkit/io';
import {
  type Llama2cVocab,
  type ParseLlama2cTokenizerOptions,
  parseLlama2cTokenizer,
  serializeLlama2cTokenizer,
} from './llama2c-file.ts';
import { type HfTokenizerJson, llama2cHfTokenizerConfig, llama2cToHfTokenizerJson } from './llama2c-hf.ts';
import { mergeByScore } from './score-merge.ts';
import type { DecodeOptions, EncodeOptions, Tokenizer } from '@peftkit/core';

export type { Llama2cVocab, ParseLlama2cTokenizerOptions } from './llama2c-file.ts';
export { parseLlama2cTokenizer, serializeLlama2cTokenizer } from './llama2c-file.ts';

/** Incremental decoder: multi-byte characters split over byte-fallback tokens come out whole. */
export interface Llama2cStreamDecoder {
  /** Feeds one id and returns the text completed so far (possibly ''). */
  push(id: number): string;
  /** Returns whatever is left (an incomplete UTF-8 sequence becomes U+FFFD). */
  flush(): string;
}

const utf8Encoder = new TextEncoder();
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/**
 * The llama2.c tokenizer (`tok512.bin` / `tokenizer.bin`), bit-for-bit with llama2.c's `encode`/`decode`.
 * Ids 0, 1, 2 are UNK, BOS, EOS as llama2.c hard-codes them.
 */
export class Llama2cTokenizer implements Tokenizer {
  readonly unkId = 0;
  readonly bosId = 1;
  readonly eosId = 2;
  readonly padId: number | undefined = undefined;
  readonly vocabSize: number;
  readonly maxTokenLength: number;
  readonly #vocab: Llama2cVocab;
  readonly #ids = new Map<string, number>();
  readonly #bytes: Uint8Array[];
  /** Byte value of a `<0xXX>` piece, -1 for other pieces. */
  readonly #byteValue: Int16Array;
  /** Id of the token standing for each byte value. */
  readonly #byteToken = new Int32Array(256);

  static fromBytes(bytes: Uint8Array, options: ParseLlama2cTokenizerOptions = {}): Llama2cTokenizer {
    return new Llama2cTokenizer(parseLlama2cTokenizer(bytes, options));
  }

  constructor(vocab: Llama2cVocab) {
    this.#vocab = vocab;
    this.vocabSize = vocab.pieces.length;
    this.maxTokenLength = vocab.maxTokenLength;
    this.#bytes = vocab.pieces.map((p) => utf8Encoder.encode(p));
    this.#byteValue = new Int16Array(this.vocabSize).fill(-1);
    vocab.pieces.forEach((piece, id) => {
      // First id wins on duplicates; llama2.c's bsearch leaves that case undefined.
      if (!this.#ids.has(piece)) this.#ids.set(piece, id);
      const m = BYTE_PIECE.exec(piece);
      if (m !== null) this.#byteValue[id] = Number.parseInt(m[1] as string, 16);
    });
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).toUpperCase().padStart(2, '0');
      // llama2.c uses byte + 3 unconditionally; the lookup only matters for vocabs laid out differently.
      this.#byteToken[b] = this.#ids.get(`<0x${hex}>`) ?? b + 3;
    }
  }

  idToPiece(id: number): string | undefined {
    return this.#vocab.pieces[id];
  }

  pieceToId(piece: string): number | undefined {
    return this.#ids.get(piece);
  }

  score(id: number): number {
    this.#checkId(id);
    return this.#vocab.scores[id] as number;
  }

  /**
   * llama2.c `encode`: dummy-prefix space, characters or their bytes, then score-ordered merges. (A vocab
   * without a ' ' piece gets the byte token for the prefix; llama2.c would emit id -1 there.)
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const symbols: number[] = [];
    if (text.length > 0) this.#pushChar(' ', symbols);
    for (const ch of text) this.#pushChar(ch, symbols);
    const pieces = this.#vocab.pieces;
    const merged = mergeByScore(
      symbols,
      (a, b) => this.#ids.get((pieces[a] as string) + (pieces[b] as string)) ?? -1,
      this.#vocab.scores,
    );
    if (options.bos === true) merged.unshift(this.bosId);
    if (options.eos === true) merged.push(this.eosId);
    return merged;
  }

  /**
   * Concatenates the pieces' bytes and decodes them as UTF-8 at the end. One leading space is stripped from a
   * piece that follows BOS (llama2.c) or starts the sequence (SentencePiece), so decode(encode(s)) === s.
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? true;
    const parts: Uint8Array[] = [];
    let prev = this.bosId;
    for (const id of ids) {
      this.#checkId(id);
      if (!(skip && this.#isSpecial(id))) parts.push(this.decodeTokenBytes(prev, id));
      prev = id;
    }
    let total = 0;
    for (const p of parts) total += p.byteLength;
    const out = new Uint8Array(total);
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.byteLength;
    }
    return new TextDecoder().decode(out);
  }

  /** llama2.c `decode(prev, token)`: the raw bytes of one token. */
  decodeTokenBytes(prev: number, id: number): Uint8Array {
    this.#checkId(id);
    const byte = this.#byteValue[id] as number;
    if (byte >= 0) return Uint8Array.of(byte);
    const bytes = this.#bytes[id] as Uint8Array;
    return prev === this.bosId && bytes[0] === 0x20 ? bytes.subarray(1) : bytes;
  }

  /** One token as text; a lone byte of a multi-byte character becomes U+FFFD (use `streamDecoder` for that). */
  decodeToken(prev: number, id: number): string {
    return new TextDecoder().decode(this.decodeTokenBytes(prev, id));
  }

  streamDecoder(options: DecodeOptions = {}): Llama2cStreamDecoder {
    const skip = options.skipSpecialTokens ?? true;
    const utf8 = new TextDecoder();
    let prev = this.bosId;
    return {
      push: (id) => {
        const bytes = skip && this.#isSpecial(id) ? new Uint8Array(0) : this.decodeTokenBytes(prev, id);
        prev = id;
        return utf8.decode(bytes, { stream: true });
      },
      flush: () => utf8.decode(),
    };
  }

  /** An equivalent Hugging Face `tokenizer.json` (see llama2c-hf.ts for what is and is not equivalent). */
  toHfTokenizerJson(): HfTokenizerJson {
    return llama2cToHfTokenizerJson(this.#vocab, { unk: this.unkId, bos: this.bosId, eos: this.eosId });
  }

  /** The matching `tokenizer_config.json`. */
  toHfTokenizerConfig(): Record<string, unknown> {
    return llama2cHfTokenizerConfig();
  }

  /** The llama2.c file bytes (what `tokenizer.bin` holds). */
  toBytes(): Uint8Array {
    return serializeLlama2cTokenizer(this.#vocab);
  }

  #isSpecial(id: number): boolean {
    return id === this.unkId || id === this.bosId || id === this.eosId;
  }

  #pushChar(ch: string, out: number[]): void {
    const id = this.#ids.get(ch);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    for (const b of utf8Encoder.encode(ch)) out.push(this.#byteToken[b] as number);
  }

  #checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new PeftkitError('PEFTKIT_E_TOKENIZER_ID_RANGE', `token id ${id} is outside [0, ${this.vocabSize})`, {
        id,
        vocabSize: this.vocabSize,
      });
    }
  }
}
