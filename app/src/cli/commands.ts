import { PLUGIN_API_VERSION } from '@peftkit/core';

export interface CommandIo {
  /** Writes to stdout; a newline is appended unless `newline` is false. */
  out(text: string, newline?: boolean): void;
  err(text: string): void;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

export function helpText(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'peftkit — parameter-efficient fine-tuning for TypeScript',
    '',
    'Usage: peftkit <command> [options]   (peftkit <command> --help for details)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options: --version (peftkit and plugin API versions), --verbose (or PEFTKIT_VERBOSE=1: stack traces).',
    '',
    `Plugin API ${PLUGIN_API_VERSION}. Backend: --backend wasm|cpu|tensorflow or PEFTKIT_BACKEND.`,
    'Third-party method plugins: --plugin <package or path>, PEFTKIT_PLUGINS=a,b, or "plugins" in peftkit.config.json.',
    '',
    "Errors print one line, 'peftkit <command>: PEFTKIT_E_<CODE>: message'. Exit codes: 0 success, 1 failure,",
    '2 usage error (bad options or project config), ' +
      '3 the main job without --quick did not improve (see docs/errors.md).',
  ].join('\n');
}
