import { z } from 'zod';
import type { Tokenizer } from '@peftkit/core';
import type { TrainExample } from '@peftkit/core/train';
import type { ChatTemplate } from './chat-template.ts';
import { DATA_ERROR_CODES, dataError } from './errors.ts';
import { resolveLabelNames } from './labels.ts';
import { packExamples } from './pack.ts';
import { readDataFile } from './read.ts';
import { DATA_FORMATS, type DataFormat, type DataRecord } from './records.ts';
import { splitTrainEval } from '@peftkit/core/train';
import { tokenizeRecord } from './tokenize.ts';

/** The data section of a training config (strict: unknown keys are errors). */
export const dataConfigSchema = z.strictObject({
  /** Record shape; detected from the fields when omitted. */
  format: z.enum(DATA_FORMATS).optional(),
  /** File syntax; from the extension when omitted. */
  fileType: z.enum(['jsonl', 'csv']).optional(),
  delimiter: z.string().length(1).optional(),
  /** Longest example (or packed block) in tokens. */
  maxLength: z.number().int().min(2),
  truncation: z.boolean().default(true),
  appendEos: z.boolean().default(true),
  /** Pack `{text}` examples into blocks of maxLength (group_texts). */
  packing: z.boolean().default(false),
  dropRemainder: z.boolean().default(true),
  shuffle: z.boolean().default(true),
  seed: z.number().int().min(0).default(0),
  evalFraction: z.number().min(0).lt(1).optional(),
  evalCount: z.number().int().min(0).optional(),
  /** The model's label names in id order (classification). */
  labels: z.array(z.string().min(1)).min(1).optional(),
});
export type DataConfigInput = z.input<typeof dataConfigSchema>;
export type DataConfig = z.output<typeof dataConfigSchema>;

/** Validates a data config (PEFTKIT_E_DATA_OPTIONS listing every problem). */
export function parseDataConfig(input: unknown): DataConfig {
  const result = dataConfigSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw dataError(DATA_ERROR_CODES.OPTIONS, undefined, `invalid data config: ${issues.join('; ')}`, { issues });
  }
  return result.data;
}

export interface DatasetStats {
  readonly records: number;
  readonly trainExamples: number;
  readonly evalExamples: number;
  /** Examples cut to maxLength. */
  readonly truncated: number;
  /** Examples dropped because nothing trainable was left (empty text, completion cut away). */
  readonly dropped: number;
  /** Tokens in train / eval examples. */
  readonly trainTokens: number;
  readonly evalTokens: number;
}

export interface Dataset {
  readonly format: DataFormat;
  readonly train: TrainExample[];
  readonly eval: TrainExample[];
  /** Label names in class-index order (classification only). */
  readonly labels?: string[];
  readonly stats: DatasetStats;
}

export interface DatasetContext {
  readonly tokenizer: Tokenizer;
  /** The model's chat template (loadChatTemplate), needed for `{messages}` data. */
  readonly chatTemplate?: ChatTemplate | undefined;
}

/**
 * Records → tokenized, split, optionally packed examples. Records are split before packing, so no document is in
 * both train and eval. Deterministic given the config's seed.
 */
export function prepareDataset(
  format: DataFormat,
  records: readonly DataRecord[],
  context: DatasetContext,
  configInput: DataConfigInput,
): Dataset {
  const config = parseDataConfig(configInput);
  if (records.length === 0) throw dataError(DATA_ERROR_CODES.EMPTY, undefined, 'no records');
  if (config.packing && format !== 'text') {
    throw dataError(DATA_ERROR_CODES.OPTIONS, undefined, `packing applies to {text} data only, not ${format}`);
  }
  const labels =
    format === 'classification'
      ? resolveLabelNames(
          records.map((r) => (r.format === 'classification' ? r.label : '')),
          config.labels,
        )
      : undefined;
  const split = splitTrainEval(records, config);
  let truncated = 0;
  let dropped = 0;
  const tokenizeAll = (part: readonly DataRecord[]): TrainExample[] => {
    const out: TrainExample[] = [];
    for (const record of part) {
      const result = tokenizeRecord(record, {
        tokenizer: context.tokenizer,
        maxLength: config.maxLength,
        truncation: config.truncation,
        appendEos: config.packing ? true : config.appendEos,
        chatTemplate: context.chatTemplate,
        labelNames: labels,
        skipTruncation: config.packing,
      });
      if (result.truncated) truncated++;
      if (result.example === undefined) dropped++;
      else out.push(result.example);
    }
    return config.packing ? packExamples(out, config.maxLength, { dropRemainder: config.dropRemainder }) : out;
  };
  const train = tokenizeAll(split.train);
  const evalExamples = tokenizeAll(split.eval);
  if (train.length === 0) {
    throw dataError(
      DATA_ERROR_CODES.EMPTY,
      undefined,
      config.packing
        ? `fewer than maxLength=${config.maxLength} tokens to pack into one block`
        : 'no trainable examples',
    );
  }
  const tokens = (examples: readonly TrainExample[]): number => examples.reduce((n, e) => n + e.ids.length, 0);
  return {
    format,
    train,
    eval: evalExamples,
    ...(labels === undefined ? {} : { labels }),
    stats: {
      records: records.length,
      trainExamples: train.length,
      evalExamples: evalExamples.length,
      truncated,
      dropped,
      trainTokens: tokens(train),
      evalTokens: tokens(evalExamples),
    },
  };
}

/** Reads, validates, tokenizes, splits and packs a JSONL/CSV file: the one call `peftkit train` needs per file. */
export async function loadDataset(
  file: string,
  context: DatasetContext,
  configInput: DataConfigInput,
): Promise<Dataset> {
  const config = parseDataConfig(configInput);
  const data = await readDataFile(file, config);
  return prepareDataset(data.format, data.records, context, config);
}
