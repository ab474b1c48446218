import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchCommand } from './cmd-bench.ts';
import { convertCommand } from './cmd-convert.ts';
import { doctorCommand } from './cmd-doctor.ts';
import { downloadCommand } from './cmd-download.ts';
import { generateCommand } from './cmd-generate.ts';
import { inspectCommand } from './cmd-inspect.ts';
import { mergeCommand } from './cmd-merge.ts';
import { pluginsCommand } from './cmd-plugins.ts';
import { serveCommand } from './cmd-serve.ts';
import { startCommand } from './cmd-start.ts';
import { trainCommand } from './cmd-train.ts';
import { workerCommand } from './cmd-worker.ts';
import { jobsCommand } from './cmd-jobs.ts';
import { type Command, type CommandIo, helpText } from './commands.ts';
import { installFatalHandlers, isVerbose, reportError } from './errors.ts';
import { readProjectConfig } from './project.ts';
import { versionText } from './version.ts';

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
  workerCommand,
  jobsCommand,
  doctorCommand,
];

const io: CommandIo = {
  out: (text, newline = true) => void process.stdout.write(newline ? `${text}\n` : text),
  err: (text) => void process.stderr.write(`${text}\n`),
};

/** The command being run, for errors that escape it (see installFatalHandlers). */
let current: string | undefined;
let verbose = false;

/** Commands whose --model / --backend may come from the project config (peftkit.config.json). */
const TAKES_MODEL = new Set(['generate', 'train', 'serve', 'merge', 'start']);
const TAKES_BACKEND = new Set([...TAKES_MODEL, 'plugins']);
const given = (argv: readonly string[], flag: string) =>
  argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));

/** Adds the project config's defaults as options the user did not give (flags and PEFTKIT_BACKEND win). */
function withProjectDefaults(name: string, argv: readonly string[]): string[] {
  const out = [...argv];
  if (given(argv, 'help') || argv.includes('-h') || (!TAKES_MODEL.has(name) && !TAKES_BACKEND.has(name))) return out;
  const config = readProjectConfig();
  if (config.model !== undefined && TAKES_MODEL.has(name) && !given(argv, 'model')) out.push('--model', config.model);
  if (
    config.backend !== undefined &&
    TAKES_BACKEND.has(name) &&
    !given(argv, 'backend') &&
    !process.env.PEFTKIT_BACKEND
  )
    out.push('--backend', config.backend);
  return out;
}

/**
 * Runs the CLI; returns the exit code (0 ok, else the error catalog's: 1 failure, 2 usage error). Global options,
 * anywhere before a `--`: --verbose (also PEFTKIT_VERBOSE=1) adds the stack to error lines; --version, --help.
 */
export async function main(argv: readonly string[], output: CommandIo = io): Promise<number> {
  const end = argv.indexOf('--') === -1 ? argv.length : argv.indexOf('--');
  verbose = isVerbose() || argv.slice(0, end).includes('--verbose');
  const args = argv.filter((a, i) => i >= end || a !== '--verbose');
  const [name, ...rest] = args;
  current = undefined;
  if (name === '--version' || name === '-V' || name === 'version') {
    output.out(versionText());
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    output.out(helpText(COMMANDS));
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    output.err(`peftkit: PEFTKIT_E_USAGE: unknown command '${name}' (see 'peftkit --help')`);
    return 2;
  }
  current = name;
  try {
    return await command.run(withProjectDefaults(name, rest), output);
  } catch (error) {
    const { text, exit } = reportError(name, error, verbose);
    output.err(text);
    return exit;
  }
}

/** The program: main() plus one coded line (never a runtime dump) for errors that escape every command. */
export async function cli(argv: readonly string[]): Promise<number> {
  installFatalHandlers(
    () => current,
    () => verbose,
    (text) => io.err(text),
  );
  return main(argv);
}

/**
 * True when this module is the program (Deno and Bun say so; on Node compare real paths, spaces and links included).
 */
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

if (isProgram()) process.exitCode = await cli(process.argv.slice(2));
