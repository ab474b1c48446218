import { parseArgs } from 'node:util';
import { PeftkitError } from '@peftkit/io';

export type OptionSpec = Record<
  string,
  { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean }
>;

type ParsedCommand<T extends OptionSpec> = ReturnType<
  typeof parseArgs<{
    args: string[];
    options: T & { help: { type: 'boolean'; short: string } };
    allowPositionals: true;
    strict: true;
  }>
>;

/** Strict option parsing: unknown flags and missing values are usage errors (exit code 2). */
// The return type is spelled out so that declaration emit (npm run build) can name it.
export function parseCommand<T extends OptionSpec>(
  argv: readonly string[],
  options: T,
  command: string,
): ParsedCommand<T> {
  try {
    return parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new PeftkitError(
      'PEFTKIT_E_USAGE',
      `${command}: ${(error as Error).message} (see 'peftkit ${command} --help')`,
      { command },
    );
  }
}

export function requireString(values: Record<string, unknown>, name: string, command: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '')
    throw new PeftkitError('PEFTKIT_E_USAGE', `${command}: --${name} is required (see 'peftkit ${command} --help')`, {
      command,
      option: name,
    });
  return v;
}

export function numberOption(
  values: Record<string, unknown>,
  name: string,
  command: string,
  fallback: number,
  check: (n: number) => boolean,
  what: string,
): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || !check(n)) {
    throw new PeftkitError('PEFTKIT_E_USAGE', `${command}: --${name} must be ${what}, got '${String(v)}'`, {
      command,
      option: name,
    });
  }
  return n;
}
