/**
 * One linear pass over raw JSON text, run before JSON.parse:
 * - bounds nesting depth, so hostile input cannot make any parser recurse or build huge trees;
 * - finds duplicate object keys, which JSON.parse silently resolves to the last value.
 * It never throws and tolerates invalid JSON (JSON.parse reports that afterwards).
 */
export interface JsonScanResult {
  tooDeep: boolean;
  /** First key seen twice in the same object (decoded), if any. */
  duplicate: string | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

export function scanJson(text: string, maxDepth: number): JsonScanResult {
  // One entry per open container: the key set of an object, or null for an array.
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  let duplicate: string | undefined;
  const length = text.length;
  let i = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let j = i + 1;
      let escaped = false;
      while (j < length) {
        const cj = text.charCodeAt(j);
        if (cj === BACKSLASH) {
          escaped = true;
          j += 2;
          continue;
        }
        if (cj === QUOTE) break;
        j++;
      }
      if (j >= length) break; // unterminated string: JSON.parse will reject it
      const keys = stack[stack.length - 1];
      if (expectKey && keys) {
        const key = escaped ? decodeJsonString(text.slice(i, j + 1)) : text.slice(i + 1, j);
        if (key !== undefined) {
          if (keys.has(key)) duplicate ??= key;
          else keys.add(key);
        }
        expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (stack.length >= maxDepth) return { tooDeep: true, duplicate };
      stack.push(c === OPEN_OBJECT ? new Set() : null);
      expectKey = c === OPEN_OBJECT;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
      expectKey = false;
    } else if (c === COMMA) {
      expectKey = Boolean(stack[stack.length - 1]);
    }
    i++;
  }
  return { tooDeep: false, duplicate };
}

function decodeJsonString(token: string): string | undefined {
  try {
    const value: unknown = JSON.parse(token);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
