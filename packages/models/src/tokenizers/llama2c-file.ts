import { PeftkitError } from '@peftkit/io';

/**
 * The llama2.c tokenizer file (`tok512.bin`, `tokenizer.bin`): little-endian int32 max_token_length, then for
 * every token a float32 score, an int32 byte length and that many UTF-8 bytes. The file does not store the
 * token count; llama2.c takes it from the model header, so we read records until the end of the file.
 */
export interface Llama2cVocab {
  readonly maxTokenLength: number;
  /** Pieces as text; a leading space is a real space (no SentencePiece `▁`). */
  readonly pieces: readonly string[];
  readonly scores: Float32Array;
}

export interface ParseLlama2cTokenizerOptions {
  /** When given, the file must hold exactly this many tokens (the model header's vocab_size). */
  vocabSize?: number;
}

const TRUNCATED = 'PEFTKIT_E_LLAMA2C_TOKENIZER_TRUNCATED';
const INVALID = 'PEFTKIT_E_LLAMA2C_TOKENIZER_INVALID';

export function parseLlama2cTokenizer(bytes: Uint8Array, options: ParseLlama2cTokenizerOptions = {}): Llama2cVocab {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) {
    throw new PeftkitError(TRUNCATED, 'tokenizer file is shorter than its 4-byte header', {
      byteLength: bytes.byteLength,
    });
  }
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0) {
    throw new PeftkitError(INVALID, `max_token_length must be positive, got ${maxTokenLength}`, { maxTokenLength });
  }
  // fatal: pieces are matched as strings, so a lossy decode would silently change encodings.
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const pieces: string[] = [];
  const scores: number[] = [];
  let offset = 4;
  while (offset < bytes.byteLength) {
    const id = pieces.length;
    if (offset + 8 > bytes.byteLength) {
      throw new PeftkitError(TRUNCATED, `token ${id}: record header cut off at byte ${offset}`, { id, offset });
    }
    const score = view.getFloat32(offset, true);
    const length = view.getInt32(offset + 4, true);
    offset += 8;
    if (!Number.isFinite(score)) throw new PeftkitError(INVALID, `token ${id}: score is not finite`, { id, score });
    if (length < 0) throw new PeftkitError(INVALID, `token ${id}: negative byte length ${length}`, { id, length });
    if (length > maxTokenLength) {
      throw new PeftkitError(INVALID, `token ${id}: byte length ${length} exceeds max_token_length ${maxTokenLength}`, {
        id,
        length,
        maxTokenLength,
      });
    }
    if (offset + length > bytes.byteLength) {
      throw new PeftkitError(
        TRUNCATED,
        `token ${id}: ${length} piece bytes expected, ${bytes.byteLength - offset} left`,
        {
          id,
          length,
          offset,
        },
      );
    }
    let piece: string;
    try {
      piece = utf8.decode(bytes.subarray(offset, offset + length));
    } catch (cause) {
      throw new PeftkitError(INVALID, `token ${id}: piece is not valid UTF-8`, { id }, { cause });
    }
    pieces.push(piece);
    scores.push(score);
    offset += length;
  }
  if (pieces.length === 0) throw new PeftkitError(INVALID, 'tokenizer file holds no tokens', {});
  if (options.vocabSize !== undefined && options.vocabSize !== pieces.length) {
    throw new PeftkitError(
      'PEFTKIT_E_LLAMA2C_TOKENIZER_VOCAB_MISMATCH',
      `tokenizer holds ${pieces.length} tokens, model expects ${options.vocabSize}`,
      {
        tokens: pieces.length,
        vocabSize: options.vocabSize,
      },
    );
  }
  return { maxTokenLength, pieces, scores: Float32Array.from(scores) };
}

/** Writes the same format back (used for `tokenizer.bin` next to converted models, and for test fixtures). */
export function serializeLlama2cTokenizer(vocab: Llama2cVocab): Uint8Array {
  const encoder = new TextEncoder();
  const encoded = vocab.pieces.map((p) => encoder.encode(p));
  const total = 4 + encoded.reduce((sum, b) => sum + 8 + b.byteLength, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setInt32(0, vocab.maxTokenLength, true);
  let offset = 4;
  encoded.forEach((piece, id) => {
    view.setFloat32(offset, vocab.scores[id] ?? 0, true);
    view.setInt32(offset + 4, piece.byteLength, true);
    out.set(piece, offset + 8);
    offset += 8 + piece.byteLength;
  });
  return out;
}
