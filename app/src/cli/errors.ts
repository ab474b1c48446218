/**
 * How the CLI reports a failure: one line `peftkit <cmd>: PEFTKIT_E_<CODE>: message`, the exit code from core's error
 * catalog, and the stack only with --verbose (or PEFTKIT_VERBOSE=1). Errors without a code get one here.
 */
import { errorInfo, PeftkitError } from '@peftkit/core';

/** Runtime errors that have an obvious peftkit code (node:net, Deno.serve and Bun.serve spell them differently). */
function codeFor(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown; message?: unknown };
  const text = typeof e?.message === 'string' ? e.message : '';
  if (e?.code === 'EADDRINUSE' || e?.name === 'AddrInUse' || /address already in use|EADDRINUSE/i.test(text))
    return 'PEFTKIT_E_PORT_IN_USE';
  if (e?.code === 'ENOENT') return 'PEFTKIT_E_IO_NOT_FOUND';
  return 'PEFTKIT_E_UNEXPECTED';
}

/** The error as a PeftkitError (itself when it already is one). */
export function toCoded(error: unknown): PeftkitError {
  if (error instanceof PeftkitError) return error;
  const code = (error as { code?: unknown })?.code;
  // a PeftkitError from another copy of @peftkit/io (a plugin's own install) is still coded
  if (typeof code === 'string' && code.startsWith('PEFTKIT_E_') && error instanceof Error) {
    return new PeftkitError(code, error.message.replace(`${code}: `, ''), {}, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new PeftkitError(codeFor(error), message.split('\n')[0] || String(error), {}, { cause: error });
}

export function isVerbose(env: Record<string, string | undefined> = globalThis.process?.env ?? {}): boolean {
  const v = env.PEFTKIT_VERBOSE;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** Stack of the error and its causes, for --verbose. */
function stacks(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    parts.push(`${depth === 0 ? '' : 'caused by: '}${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}

/** The text to print on stderr and the exit code. */
export function reportError(
  command: string | undefined,
  error: unknown,
  verbose: boolean,
): { text: string; exit: number } {
  const coded = toCoded(error);
  const line = `peftkit${command ? ` ${command}` : ''}: ${coded.message}`;
  const original = coded.cause !== undefined && !(error instanceof PeftkitError) ? coded.cause : error;
  return { text: verbose ? `${line}\n${stacks(original)}` : line, exit: errorInfo(coded.code).exit };
}

interface ProcessLike {
  on(event: string, listener: (error: unknown) => void): unknown;
  exit(code: number): never;
  exitCode?: number | string | undefined;
}

/**
 * Errors that escape every command (an emitter's 'error' event, a rejection nobody awaits) still print one coded
 * line and exit with the catalog's code instead of the runtime's dump (which can quote a minified library line).
 */
export function installFatalHandlers(
  command: () => string | undefined,
  verbose: () => boolean,
  write: (text: string) => void,
): void {
  const proc = globalThis.process as unknown as ProcessLike | undefined;
  if (typeof proc?.on !== 'function') return;
  const fatal = (error: unknown) => {
    // The reader of our output went away (`peftkit doctor | head`): stop quietly, as Unix tools do.
    const e = error as { code?: unknown; name?: unknown } | null;
    if (e?.code === 'EPIPE' || e?.name === 'BrokenPipe') proc.exit(0);
    const { text, exit } = reportError(command(), error, verbose());
    write(text);
    proc.exit(exit);
  };
  proc.on('uncaughtException', fatal);
  proc.on('unhandledRejection', fatal);
}
