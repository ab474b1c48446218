import { DATA_ERROR_CODES, type SourceLocation, dataError } from './errors.ts';

const INTEGER = /^(0|[1-9][0-9]*)$/;

/**
 * The label names of a classification data set. Given `declared` (the model's label list, e.g. config.json
 * `id2label` in id order) it is used as is. Otherwise it is derived from the data: all-integer labels (numbers, or
 * CSV strings like "0", "1") → names "0"…"max"; otherwise the sorted distinct names.
 */
export function resolveLabelNames(values: readonly (string | number)[], declared?: readonly string[]): string[] {
  if (declared !== undefined) {
    if (declared.length === 0) throw dataError(DATA_ERROR_CODES.OPTIONS, undefined, 'the label list is empty');
    if (new Set(declared).size !== declared.length)
      throw dataError(DATA_ERROR_CODES.OPTIONS, undefined, 'the label list has duplicates');
    return [...declared];
  }
  const integers = values.every((v) => typeof v === 'number' || INTEGER.test(v));
  if (integers) {
    const max = values.reduce<number>((m, v) => Math.max(m, Number(v)), -1);
    return Array.from({ length: max + 1 }, (_, i) => String(i));
  }
  return [...new Set(values.map(String))].sort();
}

/**
 * The class index of one label: a name found in `names` wins; else an integer (number, or integer text) in
 * [0, names.length). Anything else is PEFTKIT_E_DATA_LABEL naming the file and line.
 */
export function labelIndex(value: string | number, names: readonly string[], where?: SourceLocation): number {
  if (typeof value === 'string') {
    const byName = names.indexOf(value);
    if (byName !== -1) return byName;
  }
  const index = typeof value === 'number' ? value : INTEGER.test(value) ? Number(value) : Number.NaN;
  if (Number.isInteger(index) && index >= 0 && index < names.length) return index;
  throw dataError(
    DATA_ERROR_CODES.LABEL,
    where,
    `label ${JSON.stringify(value)} is not in the label set [${names.join(', ')}]`,
    {
      label: value,
      labels: [...names],
    },
  );
}
