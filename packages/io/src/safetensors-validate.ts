import {
  type SafetensorsDtype,
  SAFETENSORS_ERROR_CODES as E,
  checkedByteSize,
  dtypeSize,
  isSafetensorsDtype,
  isShape,
  stError,
} from './safetensors-types.ts';

/** A header entry after field checks; offsets are relative to the data buffer. */
export interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface ValidatedHeader {
  metadata: Record<string, string>;
  /** Sorted by data offset, covering the data buffer exactly. */
  entries: HeaderEntry[];
}

const ENTRY_FIELDS = new Set(['dtype', 'shape', 'data_offsets']);
const LONE_SURROGATE = /\p{Cs}/u;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates a parsed header against the byte length of the data buffer that follows it. */
export function validateHeader(header: unknown, dataLength: number): ValidatedHeader {
  if (!isPlainObject(header)) throw stError(E.HEADER_JSON, 'header is not a JSON object');
  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') metadata = validateMetadata(value);
    else entries.push(validateEntry(name, value));
  }
  checkCoverage(entries, dataLength);
  return { metadata, entries };
}

function validateMetadata(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) throw stError(E.METADATA, '__metadata__ must be an object of strings');
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') {
      throw stError(E.METADATA, `__metadata__ value for "${key}" is not a string`, { key });
    }
  }
  // fromEntries defines own properties, so a "__proto__" key stays plain data.
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

function validateEntry(name: string, value: unknown): HeaderEntry {
  if (LONE_SURROGATE.test(name)) throw stError(E.HEADER_JSON, 'tensor name is not well-formed Unicode');
  if (!isPlainObject(value)) throw stError(E.HEADER_ENTRY, `entry "${name}" is not an object`, { name });
  for (const field of Object.keys(value)) {
    if (!ENTRY_FIELDS.has(field)) {
      throw stError(E.HEADER_ENTRY, `entry "${name}" has unknown field "${field}"`, { name, field });
    }
  }
  for (const field of ENTRY_FIELDS) {
    if (!Object.hasOwn(value, field)) {
      throw stError(E.HEADER_ENTRY, `entry "${name}" lacks "${field}"`, { name, field });
    }
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isSafetensorsDtype(dtype)) {
    throw stError(E.DTYPE, `entry "${name}" has unknown dtype`, { name, dtype: String(dtype).slice(0, 32) });
  }
  if (!isShape(shape)) {
    throw stError(E.HEADER_SHAPE, `entry "${name}" shape is not an array of non-negative integers`, { name });
  }
  const byteSize = checkedByteSize(shape, dtypeSize(dtype));
  if (byteSize === undefined) {
    throw stError(E.SIZE_OVERFLOW, `entry "${name}" byte size overflows`, { name, shape: shape.slice(0, 16) });
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw stError(E.OFFSETS, `entry "${name}" data_offsets must be [begin, end] with 0 <= begin <= end`, { name });
  }
  const begin = offsets[0] as number;
  const end = offsets[1] as number;
  if (end - begin !== byteSize) {
    throw stError(E.SIZE_MISMATCH, `entry "${name}" spans ${end - begin} bytes, dtype and shape need ${byteSize}`, {
      name,
      expected: byteSize,
      actual: end - begin,
    });
  }
  return { name, dtype, shape: [...shape], begin, end };
}

/** Sorted by offsets, the entries must tile [0, dataLength) with no hole and no overlap. */
function checkCoverage(entries: HeaderEntry[], dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const entry of entries) {
    if (entry.begin < cursor) {
      throw stError(E.OVERLAP, `entry "${entry.name}" overlaps the previous tensor`, { name: entry.name });
    }
    if (entry.begin > cursor) {
      throw stError(E.COVERAGE, `hole of ${entry.begin - cursor} bytes before "${entry.name}"`, {
        name: entry.name,
        at: cursor,
      });
    }
    cursor = entry.end;
  }
  if (cursor > dataLength) {
    throw stError(E.TRUNCATED, `tensor data needs ${cursor} bytes, file holds ${dataLength}`, {
      expected: cursor,
      actual: dataLength,
    });
  }
  if (cursor < dataLength) {
    throw stError(E.COVERAGE, `${dataLength - cursor} trailing bytes after the last tensor`, {
      expected: cursor,
      actual: dataLength,
    });
  }
}
