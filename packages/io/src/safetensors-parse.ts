/**
 * Strict safetensors parser.
 * Layout: u64 little-endian header length N | N bytes UTF-8 JSON object, space padded | data buffer.
 * Every size from the file is checked against the actual byte length before it is used,
 * so corrupt or hostile input only ever yields a PeftkitError with a PEFTKIT_E_SAFETENSORS_* code.
 */
import { scanJson } from './json-scan.ts';
import {
  type SafetensorsFile,
  type SafetensorsTensor,
  SAFETENSORS_ERROR_CODES as E,
  MAX_HEADER_BYTES,
  stError,
} from './safetensors-types.ts';
import { validateHeader } from './safetensors-validate.ts';

/** A valid header nests at most object > entry > shape array; anything far deeper is hostile. */
const MAX_HEADER_DEPTH = 8;
const OPEN_BRACE = 0x7b;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses and strictly validates a whole file. Tensor `data` are views into `bytes`, not copies. */
export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.byteLength < 8) {
    throw stError(E.TRUNCATED, `file has ${bytes.byteLength} bytes, the length prefix needs 8`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  if (high !== 0 || low > MAX_HEADER_BYTES) {
    // text (JSON, an HTML error page, a Git LFS pointer) read as a length is huge: say what the file is instead
    const text = looksLikeText(bytes)
      ? `not a safetensors file (it starts with text: ${JSON.stringify(preview(bytes))}); `
      : '';
    throw stError(E.HEADER_TOO_LARGE, `${text}header length exceeds ${MAX_HEADER_BYTES} bytes`, {
      length: ((BigInt(high) << 32n) | BigInt(low)).toString(),
    });
  }
  const headerEnd = 8 + low;
  if (headerEnd > bytes.byteLength) {
    throw stError(E.TRUNCATED, `header needs ${low} bytes, file has ${bytes.byteLength - 8} after the prefix`, {
      headerLength: low,
      fileLength: bytes.byteLength,
    });
  }
  const headerBytes = bytes.subarray(8, headerEnd);
  if (headerBytes[0] !== OPEN_BRACE) {
    const text = looksLikeText(bytes)
      ? ` (not a safetensors file: it starts with text: ${JSON.stringify(preview(bytes))})`
      : '';
    throw stError(E.HEADER_JSON, `header does not start with "{"${text}`);
  }
  const header = parseHeaderJson(headerBytes);
  const dataStart = headerEnd;
  const { metadata, entries } = validateHeader(header, bytes.byteLength - dataStart);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const entry of entries) {
    tensors.set(entry.name, {
      dtype: entry.dtype,
      shape: entry.shape,
      data: bytes.subarray(dataStart + entry.begin, dataStart + entry.end),
    });
  }
  return { metadata, tensors };
}

function parseHeaderJson(headerBytes: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch {
    throw stError(E.HEADER_UTF8, 'header is not valid UTF-8');
  }
  const scan = scanJson(text, MAX_HEADER_DEPTH);
  if (scan.tooDeep) throw stError(E.HEADER_JSON, `header JSON nests deeper than ${MAX_HEADER_DEPTH}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw stError(E.HEADER_JSON, `header is not valid JSON: ${(error as Error).message?.slice(0, 200)}`);
  }
  if (scan.duplicate !== undefined) {
    throw stError(E.DUPLICATE, `duplicate key "${scan.duplicate.slice(0, 200)}" in header`, {
      key: scan.duplicate.slice(0, 200),
    });
  }
  return header;
}

/**
 * True when the first 8 bytes (the length prefix) are printable ASCII or whitespace: a text file, not a header length.
 */
function looksLikeText(bytes: Uint8Array): boolean {
  for (let i = 0; i < 8; i++) {
    const b = bytes[i] as number;
    if (!(b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f))) return false;
  }
  return true;
}

function preview(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, 40)).split('\n')[0] as string;
}
