import type { Tokenizer } from '@peftkit/core';

/**
 * Prompt tokens decoded as context before the first generated one (vLLM's INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET).
 */
const CONTEXT_TOKENS = 5;
/**
 * Most tokens a trailing U+FFFD may be held for: a UTF-8 character has at most 4 bytes, so past this the
 * replacement character is real (invalid bytes, or the model produced U+FFFD) and is let through, which keeps the
 * window — and the per-token cost — bounded whatever the model emits.
 */
const MAX_PENDING_TOKENS = 8;

const endsIncomplete = (text: string) => text.endsWith('\uFFFD');

/**
 * Incremental detokenization of one sequence, as text-generation-inference and vLLM do it: each new id decodes a
 * small window `ids[prefix..]` and emits what it adds to the window's already-emitted part `ids[prefix..read]`.
 * Decoding a window, not a single id, keeps context-dependent pieces right (SentencePiece drops a leading space at
 * the start of a decode; byte-fallback tokens only form a character together); holding back a trailing U+FFFD keeps
 * a half-received multi-byte character from being emitted. The cost per id depends on the window, not on the
 * sequence length, and the concatenated output equals decoding the generated part of the sequence at once.
 */
export class IncrementalDetokenizer {
  readonly #tokenizer: Tokenizer;
  readonly #ids: number[];
  /** Start of the decode window. */
  #prefix: number;
  /** End of what has been emitted (as text of the window). */
  #read: number;
  /** Length of decode(ids[prefix..read]): the window text already emitted (or, for the prompt, not ours to emit). */
  #emitted: number;

  constructor(tokenizer: Tokenizer, promptIds: readonly number[]) {
    this.#tokenizer = tokenizer;
    this.#ids = [...promptIds];
    this.#read = promptIds.length;
    this.#prefix = Math.max(0, this.#read - CONTEXT_TOKENS);
    const promptText = this.#decode(this.#prefix, this.#read);
    // A prompt (given as ids) ending inside a multi-byte character: the character, once complete, is generated text.
    this.#emitted = promptText.length - (endsIncomplete(promptText) ? 1 : 0);
  }

  /** Ids seen so far: the prompt, then every pushed id. */
  get ids(): readonly number[] {
    return this.#ids;
  }

  /** Adds one generated id; returns the text it completes ('' while a character is still incomplete). */
  push(id: number): string {
    this.#ids.push(id);
    const text = this.#decode(this.#prefix, this.#ids.length);
    if (endsIncomplete(text) && this.#ids.length - this.#read < MAX_PENDING_TOKENS) return '';
    // Advance even when nothing new shows (a skipped special token): the window must not grow with them.
    return this.#advance(text);
  }

  /** Whatever is still held back (an incomplete character comes out as U+FFFD, as a whole decode gives it). */
  flush(): string {
    return this.#read === this.#ids.length ? '' : this.#advance(this.#decode(this.#prefix, this.#ids.length));
  }

  #advance(text: string): string {
    // The window's emitted text is a prefix of its longer text for the tokenizers peftkit ships (byte-level BPE,
    // SentencePiece/llama2.c); should a decoder rewrite earlier text, only what is new comes out.
    const delta = text.length > this.#emitted ? text.slice(this.#emitted) : '';
    this.#prefix = this.#read;
    this.#read = this.#ids.length;
    this.#emitted = this.#decode(this.#prefix, this.#read).length;
    return delta;
  }

  #decode(from: number, to: number): string {
    return from >= to ? '' : this.#tokenizer.decode(this.#ids.slice(from, to));
  }
}

/** What a {@link GeneratedText} step emitted, and whether a stop string ended the text there. */
export interface TextStep {
  text: string;
  stopped: boolean;
}

/**
 * The generated text of one row: incremental detokenization plus stop strings. A stop may span tokens, so a
 * suffix that could still become one is held back; only that short tail is searched, so a step costs O(new text +
 * longest stop), never O(text so far).
 */
export class GeneratedText {
  readonly #detokenizer: IncrementalDetokenizer;
  readonly #stops: readonly string[];
  /** Detokenized text not emitted yet: at most (longest stop - 1) characters between steps. */
  #pending = '';
  #closed = false;
  /** Everything emitted (appended only: never re-sliced, so growing it stays cheap). */
  emitted = '';

  constructor(tokenizer: Tokenizer, promptIds: readonly number[], stops: readonly string[]) {
    this.#detokenizer = new IncrementalDetokenizer(tokenizer, promptIds);
    this.#stops = stops.filter((s) => s !== '');
  }

  /** Prompt and generated ids (what the repetition penalty looks at). */
  get ids(): readonly number[] {
    return this.#detokenizer.ids;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** One generated id; `last` flushes everything (the row ends here unless a stop ended it first). */
  push(id: number, last = false): TextStep {
    if (this.#closed) return { text: '', stopped: false };
    const fresh = this.#detokenizer.push(id);
    return this.#take(last ? fresh + this.#detokenizer.flush() : fresh, last);
  }

  /** Ends the text (EOS, cancellation): emits what was held back, still cut at a stop string. */
  close(): TextStep {
    if (this.#closed) return { text: '', stopped: false };
    return this.#take(this.#detokenizer.flush(), true);
  }

  #take(fresh: string, last: boolean): TextStep {
    const text = this.#pending + fresh;
    let at = -1;
    for (const stop of this.#stops) {
      const i = text.indexOf(stop);
      if (i !== -1 && (at === -1 || i < at)) at = i;
    }
    let out: string;
    if (at !== -1 || last) {
      out = at === -1 ? text : text.slice(0, at);
      this.#pending = '';
      this.#closed = true;
    } else {
      const hold = this.#holdback(text);
      out = text.slice(0, text.length - hold);
      this.#pending = text.slice(text.length - hold);
    }
    this.emitted += out;
    return { text: out, stopped: at !== -1 };
  }

  /** Length of the longest suffix of `text` that is a proper prefix of a stop string. */
  #holdback(text: string): number {
    let hold = 0;
    for (const stop of this.#stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > hold; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    return hold;
  }
}
