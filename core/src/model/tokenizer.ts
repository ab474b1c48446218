/** Options for {@link Tokenizer.encode}. An omitted flag means "the tokenizer's own default". */
export interface EncodeOptions {
  /** Prepend the BOS id. llama2c default: false; Hugging Face default: `add_bos_token` of tokenizer_config.json. */
  bos?: boolean;
  /** Append the EOS id. llama2c default: false; Hugging Face default: `add_eos_token` of tokenizer_config.json. */
  eos?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, UNK, ...) from the output. Default: true. */
  skipSpecialTokens?: boolean;
}

/** The one text <-> id contract that training, generation and serving depend on. */
export interface Tokenizer {
  /** Number of ids the model's embedding must cover (largest id + 1). */
  readonly vocabSize: number;
  readonly bosId?: number | undefined;
  readonly eosId?: number | undefined;
  readonly padId?: number | undefined;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
}
