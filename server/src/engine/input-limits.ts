import { PeftkitError } from '@peftkit/core';

/**
 * Admission limits checked before any tokenizing (D5): a prompt longer than the byte cap cannot fit the token cap,
 * so it is refused (413) without reading it; a tokenized prompt over the token cap is a 400.
 */
export interface InputLimits {
  maxInputTokens: number;
  maxInputBytes: number;
}

/** Bytes a token may span at most, in practice (long BPE pieces such as whitespace runs); sizes the byte cap. */
export const BYTES_PER_TOKEN = 32;

export function inputLimits(
  maxPositions: number,
  options: { maxInputTokens?: number | undefined; maxInputBytes?: number | undefined },
): InputLimits {
  const maxInputTokens = Math.max(1, Math.min(options.maxInputTokens ?? maxPositions, maxPositions));
  return { maxInputTokens, maxInputBytes: options.maxInputBytes ?? maxInputTokens * BYTES_PER_TOKEN };
}

/** UTF-8 length of `text`, counted without encoding it; stops counting past `limit`. */
function utf8Length(text: string, limit: number): number {
  if (text.length > limit) return text.length; // at least one byte per UTF-16 unit
  if (text.length * 3 <= limit) return text.length; // at most three bytes per unit: surely under
  let bytes = 0;
  for (let i = 0; i < text.length && bytes <= limit; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      bytes += 4; // a surrogate pair is one 4-byte character
      i++;
    } else bytes += 3;
  }
  return bytes;
}

export function checkPromptBytes(text: string, limits: InputLimits): void {
  if (utf8Length(text, limits.maxInputBytes) > limits.maxInputBytes) {
    throw new PeftkitError(
      'PEFTKIT_E_PROMPT_TOO_LARGE',
      `the prompt exceeds ${limits.maxInputBytes} bytes (--max-input-tokens ${limits.maxInputTokens})`,
      {
        maxInputBytes: limits.maxInputBytes,
      },
    );
  }
}

export function checkPromptTokens(count: number, limits: InputLimits): void {
  if (count > limits.maxInputTokens) {
    throw new PeftkitError(
      'PEFTKIT_E_PROMPT_TOO_LONG',
      `the prompt has ${count} tokens; at most ${limits.maxInputTokens} are accepted (--max-input-tokens)`,
      {
        promptTokens: count,
        maxInputTokens: limits.maxInputTokens,
      },
    );
  }
}
