import { Tokenizer as HfCoreTokenizer } from '@huggingface/tokenizers';
import { PeftkitError } from '@peftkit/io';
import type { DecodeOptions, EncodeOptions, Tokenizer } from '@peftkit/core';

type Json = Record<string, unknown>;

/** A special token in tokenizer_config.json is either a string or an AddedToken object with `content`. */
function tokenName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as Json).content === 'string')
    return (value as Json).content as string;
  return undefined;
}

function asObject(value: unknown, what: string): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PeftkitError('PEFTKIT_E_TOKENIZER_INVALID', `${what} must be a JSON object`, { what });
  }
  return value as Json;
}

/**
 * A Hugging Face `tokenizer.json` (+ optional `tokenizer_config.json`) run by `@huggingface/tokenizers`.
 * Special tokens are added here rather than by the file's post-processor, so `bos`/`eos` always mean the same:
 * when omitted they follow `add_bos_token` / `add_eos_token` (false when the config does not say).
 * `clean_up_tokenization_spaces` follows the config and defaults to false (the library defaults to true,
 * which would turn " ." into "." and break round trips).
 */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly padId: number | undefined;
  readonly unkId: number | undefined;
  readonly addBosToken: boolean;
  readonly addEosToken: boolean;
  readonly #inner: HfCoreTokenizer;
  readonly #cleanUpSpaces: boolean;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown = {}) {
    const json = asObject(tokenizerJson, 'tokenizer.json');
    const config = asObject(tokenizerConfig ?? {}, 'tokenizer_config.json');
    try {
      this.#inner = new HfCoreTokenizer({ added_tokens: [], ...json }, config);
    } catch (cause) {
      throw new PeftkitError('PEFTKIT_E_TOKENIZER_INVALID', `tokenizer.json rejected: ${String(cause)}`, {}, { cause });
    }
    let maxId = -1;
    for (const id of this.#inner.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    const idOf = (key: string): number | undefined => {
      const name = tokenName(config[key]);
      return name === undefined ? undefined : this.#inner.token_to_id(name);
    };
    this.bosId = idOf('bos_token');
    this.eosId = idOf('eos_token');
    this.padId = idOf('pad_token');
    this.unkId = idOf('unk_token');
    this.addBosToken = config.add_bos_token === true;
    this.addEosToken = config.add_eos_token === true;
    this.#cleanUpSpaces = config.clean_up_tokenization_spaces === true;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = this.#inner.encode(text, { add_special_tokens: false }).ids;
    if ((options.bos ?? this.addBosToken) && this.bosId !== undefined) ids.unshift(this.bosId);
    if ((options.eos ?? this.addEosToken) && this.eosId !== undefined) ids.push(this.eosId);
    return ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    // The library throws on an empty list.
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new PeftkitError('PEFTKIT_E_TOKENIZER_ID_RANGE', `token id ${id} is outside [0, ${this.vocabSize})`, {
          id,
          vocabSize: this.vocabSize,
        });
      }
    }
    return this.#inner.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? true,
      clean_up_tokenization_spaces: this.#cleanUpSpaces,
    });
  }

  idToPiece(id: number): string | undefined {
    return this.#inner.id_to_token(id);
  }

  pieceToId(piece: string): number | undefined {
    return this.#inner.token_to_id(piece);
  }
}
