// `train --out`: the guard against clobbering an earlier run, and the --overwrite clean-up.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PeftkitError } from '@peftkit/io';
import { REPORT_FILES } from '../report/write.ts';

/**
 * The entries of --out that count as earlier output (an empty metrics log, left
 * by a run that failed at once, does not).
 */
async function outEntries(out: string): Promise<string[]> {
  const names = await readdir(out).catch(() => [] as string[]);
  const sizes = await Promise.all(
    names.map((n) =>
      stat(join(out, n)).then(
        (s) => (s.isFile() ? s.size : -1),
        () => -1,
      ),
    ),
  );
  return names.filter((n, k) => !(n === REPORT_FILES.metrics && sizes[k] === 0));
}

/** Refuses to reuse a non-empty output directory unless resuming or told to overwrite; writes nothing. */
export async function checkOutDir(out: string, resume: boolean, overwrite: boolean): Promise<void> {
  if (resume || overwrite || (await outEntries(out)).length === 0) return;
  throw new PeftkitError(
    'PEFTKIT_E_OUTPUT_EXISTS',
    `output directory '${out}' is not empty: pass --resume to continue or --overwrite to replace it`,
    {
      dir: out,
    },
  );
}

/** With --overwrite, clears our files from --out; called only once every option has been validated. */
export async function clearOutDir(out: string, resume: boolean): Promise<void> {
  if (resume) return;
  for (const name of await readdir(out).catch(() => [] as string[])) {
    if (/^checkpoint-\d+$/.test(name) || name === REPORT_FILES.metrics)
      await rm(join(out, name), { recursive: true, force: true });
  }
}
