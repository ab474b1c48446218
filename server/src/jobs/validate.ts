import { PeftkitError } from '@peftkit/core';
import { parseJsonl, toRecords } from '@peftkit/data';

/**
 * Checks an uploaded fine-tuning file the way training will read it (JSON Lines, one format for every record,
 * the fields that format needs), so bad data is refused at upload with `file:line` instead of failing a job later.
 * Throws PEFTKIT_E_FILE_INVALID carrying the data loader's code (`details.dataCode`) and location.
 */
export function validateTrainingFile(bytes: Uint8Array, filename: string): { records: number; format: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PeftkitError('PEFTKIT_E_FILE_INVALID', `${filename}: the file is not UTF-8 text`, {
      file: filename,
      dataCode: 'PEFTKIT_E_DATA_READ',
    });
  }
  try {
    const { format, records } = toRecords(parseJsonl(text, filename), filename);
    return { records: records.length, format };
  } catch (error) {
    if (!(error instanceof PeftkitError)) throw error;
    const message = error.message.startsWith(`${error.code}: `)
      ? error.message.slice(error.code.length + 2)
      : error.message;
    throw new PeftkitError('PEFTKIT_E_FILE_INVALID', `${message} (${error.code})`, {
      ...error.details,
      dataCode: error.code,
    });
  }
}
