import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isPeftkitError } from '@peftkit/io';
import { errorInfo } from '@peftkit/core';
import { benchCommand } from './cmd-bench.ts';
import { convertCommand } from './cmd-convert.ts';
import { downloadCommand } from './cmd-download.ts';
import { generateCommand } from './cmd-generate.ts';
import { inspectCommand } from './cmd-inspect.ts';
import { mergeCommand } from './cmd-merge.ts';
import { pluginsCommand } from './cmd-plugins.ts';
import { serveCommand } from './cmd-serve.ts';
import { startCommand } from './cmd-start.ts';
import { trainCommand } from './cmd-train.ts';
import { type Command, type CommandIo, helpText } from './commands.ts';

export const COMMANDS: readonly Command[] = [
  startCommand,
  generateCommand,
  convertCommand,
  mergeCommand,
  inspectCommand,
  pluginsCommand,
  benchCommand,
  downloadCommand,
  trainCommand,
  serveCommand,
];

const io: CommandIo = {
  out: (text, newline = true) => void process.stdout.write(newline ? `${text}\n` : text),
  err: (text) => void process.stderr.write(`${text}\n`),
};

/** Runs the CLI; returns the exit code (0 ok, else the error catalog's: 1 failure, 2 usage error). */
export async function main(argv: readonly string[], output: CommandIo = io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    output.out(helpText(COMMANDS));
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    output.err(`peftkit: unknown command '${name}'\n\n${helpText(COMMANDS)}`);
    return 2;
  }
  try {
    return await command.run(rest, output);
  } catch (error) {
    if (isPeftkitError(error)) {
      output.err(`peftkit ${name}: ${error.message}`);
      return errorInfo(error.code).exit;
    }
    output.err(`peftkit ${name}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  }
}

/** True when this module is the program (Deno and Bun say so; on Node compare real paths, spaces and links included). */
function isProgram(): boolean {
  const flag = (import.meta as ImportMeta & { main?: boolean }).main;
  if (typeof flag === 'boolean') return flag;
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isProgram()) process.exitCode = await main(process.argv.slice(2));
