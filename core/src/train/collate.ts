import { PeftkitError } from '@peftkit/io';
import { IGNORE_INDEX, type TrainBatch, type TrainExample } from './types.ts';

/** Pads examples on the right into one rectangular batch (mask 0 and IGNORE_INDEX labels on padding). */
export function collate(examples: readonly TrainExample[], options: { padId: number }): TrainBatch {
  if (examples.length === 0) throw new PeftkitError('PEFTKIT_E_DATA', 'cannot collate an empty batch', {});
  const width = Math.max(...examples.map((e) => e.ids.length));
  if (width === 0) throw new PeftkitError('PEFTKIT_E_DATA', 'every example in the batch is empty', {});
  const classification = examples[0]?.label !== undefined;
  const pad = (row: readonly number[], value: number): number[] => [
    ...row,
    ...new Array<number>(width - row.length).fill(value),
  ];
  const ids: number[][] = [];
  const mask: number[][] = [];
  const labels: number[][] = [];
  const classLabels: number[] = [];
  const tokenTypes: number[][] = [];
  let lossTokens = 0;
  let tokens = 0;
  for (const [i, example] of examples.entries()) {
    if ((example.label !== undefined) !== classification) {
      throw new PeftkitError('PEFTKIT_E_DATA', `example ${i} mixes classification and language-modelling fields`, {
        index: i,
      });
    }
    ids.push(pad(example.ids, options.padId));
    mask.push(
      pad(
        example.ids.map(() => 1),
        0,
      ),
    );
    tokens += example.ids.length;
    if (example.tokenTypes) tokenTypes.push(pad(example.tokenTypes, 0));
    if (classification) {
      classLabels.push(example.label as number);
      lossTokens += 1;
    } else {
      const row = example.labels ?? example.ids;
      if (row.length !== example.ids.length)
        throw new PeftkitError('PEFTKIT_E_DATA', `example ${i}: labels and ids differ in length`, { index: i });
      labels.push(pad(row, IGNORE_INDEX));
      // the shifted loss predicts labels[1..] from positions [0..n-2]
      lossTokens += row.slice(1).filter((l) => l !== IGNORE_INDEX).length;
    }
  }
  if (tokenTypes.length !== 0 && tokenTypes.length !== examples.length) {
    throw new PeftkitError('PEFTKIT_E_DATA', 'token types given for some examples only', {});
  }
  return {
    ids,
    mask,
    ...(classification ? { classLabels } : { labels }),
    ...(tokenTypes.length ? { tokenTypes } : {}),
    lossTokens,
    tokens,
  };
}
