// Public entry of @peftkit/data: training data files → TrainExamples (see docs/data.md).
export { ChatTemplate, loadChatTemplate } from './chat-template.ts';
export { collate } from '@peftkit/core/train';
export { type CsvOptions, parseCsv } from './csv.ts';
export {
  type DataConfig,
  type DataConfigInput,
  type Dataset,
  type DatasetContext,
  type DatasetStats,
  dataConfigSchema,
  loadDataset,
  parseDataConfig,
  prepareDataset,
} from './dataset.ts';
export { DATA_ERROR_CODES, type SourceLocation } from './errors.ts';
export { parseJsonl, type RawRow } from './jsonl.ts';
export { labelIndex, resolveLabelNames } from './labels.ts';
export { type PackOptions, packExamples } from './pack.ts';
export { commonPrefixLength, tokenBoundaries } from './prefix.ts';
export { type DataFile, type DataFileType, parseDataText, type ReadDataOptions, readDataFile } from './read.ts';
export {
  type ChatMessage,
  DATA_FORMATS,
  type DataFormat,
  type DataRecord,
  detectFormat,
  toRecord,
  toRecords,
} from './records.ts';
export { epochOrder, type SplitOptions, shuffled, splitTrainEval } from '@peftkit/core/train';
export {
  chatLabels,
  type TokenizedRecord,
  type TokenizeOptions,
  tokenizeRecord,
  truncateCompletion,
} from './tokenize.ts';
