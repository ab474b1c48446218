/**
 * JSON text as Python's `json.dumps` writes it with default arguments (", " and ": " separators, float repr), so the
 * bytes of bitsandbytes' packed quant_state match what bnb itself writes.
 */

/**
 * Python's float repr: shortest round-trip digits; scientific notation below 1e-4 or from 1e16, exponent ≥ 2 digits.
 */
export function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) {
    const sign = exp < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  let text: string;
  if (exp < 0) text = `0.${'0'.repeat(-exp - 1)}${digits}`;
  else if (digits.length > exp + 1) text = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  else text = `${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  return negative ? `-${text}` : text;
}

export type PyValue =
  | string
  | number
  | boolean
  | null
  | { readonly int: number }
  | readonly PyValue[]
  | { readonly [key: string]: PyValue };

/** Numbers are Python floats unless wrapped as `{ int: n }` (Python ints have no ".0"). */
export function pythonJson(value: PyValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return pythonFloat(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  const record = value as Record<string, PyValue>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === 'int' && typeof record.int === 'number') return String(record.int);
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${pythonJson(record[k] as PyValue)}`).join(', ')}}`;
}
