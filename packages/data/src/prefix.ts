import type { Tokenizer } from '@peftkit/core';

/** Length of the common prefix of two id lists. */
export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let k = 0;
  while (k < n && a[k] === b[k]) k++;
  return k;
}

/**
 * Token boundaries of character offsets in `text`, without offset mappings: the boundary of offset c is how many
 * leading tokens encode(text[0:c]) shares with encode(text). A token that straddles c is therefore counted after
 * the boundary (it is not in the shared prefix). Special tokens are never added here (the caller does).
 */
export function tokenBoundaries(
  tokenizer: Tokenizer,
  text: string,
  ids: readonly number[],
  offsets: readonly number[],
): number[] {
  return offsets.map((c) =>
    c >= text.length
      ? ids.length
      : commonPrefixLength(tokenizer.encode(text.slice(0, c), { bos: false, eos: false }), ids),
  );
}
