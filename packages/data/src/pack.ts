import type { TrainExample } from '@peftkit/core/train';

export interface PackOptions {
  /** Drop the last, shorter block as transformers' group_texts does (default true). */
  readonly dropRemainder?: boolean;
}

/**
 * Packs causal-LM examples into blocks of exactly `blockSize` tokens, as transformers' `group_texts`: all ids are
 * concatenated in order (each example already ends with EOS, which separates documents) and cut into blocks;
 * labels are concatenated the same way, so the loss crosses document boundaries (the token after an EOS is
 * predicted from the previous document, as in group_texts). Linear in the number of tokens.
 */
export function packExamples(
  examples: readonly TrainExample[],
  blockSize: number,
  options: PackOptions = {},
): TrainExample[] {
  if (!Number.isInteger(blockSize) || blockSize < 2)
    throw new RangeError(`blockSize must be an integer >= 2, got ${blockSize}`);
  const blocks: TrainExample[] = [];
  let ids: number[] = [];
  let labels: number[] = [];
  for (const example of examples) {
    const exampleLabels = example.labels ?? example.ids;
    for (let k = 0; k < example.ids.length; k++) {
      ids.push(example.ids[k] as number);
      labels.push(exampleLabels[k] as number);
      if (ids.length === blockSize) {
        blocks.push({ ids, labels });
        ids = [];
        labels = [];
      }
    }
  }
  if (ids.length >= 2 && options.dropRemainder === false) blocks.push({ ids, labels });
  return blocks;
}
