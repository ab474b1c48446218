// `train --config`: the run's JSON (a file or inline), checked before anything is loaded or written.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PeftkitError } from '@peftkit/io';

const RunConfigSchema = z.strictObject({
  method: z.record(z.string(), z.unknown()).default({}),
  training: z.record(z.string(), z.unknown()).default({}),
  data: z.record(z.string(), z.unknown()).default({}),
});

export type RunConfig = z.output<typeof RunConfigSchema>;

export async function readRunConfig(source: string | undefined): Promise<RunConfig> {
  if (source === undefined) return RunConfigSchema.parse({});
  let text = source;
  const inline = source.trimStart().startsWith('{');
  if (!inline) {
    try {
      text = await readFile(source, 'utf8');
    } catch (error) {
      throw new PeftkitError(
        'PEFTKIT_E_USAGE',
        `train: cannot read --config file '${source}': ${(error as Error).message}`,
        { option: 'config' },
      );
    }
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const what = inline ? '--config' : `--config file '${source}'`;
    throw new PeftkitError('PEFTKIT_E_USAGE', `train: ${what} is not valid JSON: ${(error as Error).message}`, {
      option: 'config',
    });
  }
  const parsed = RunConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PeftkitError(
      'PEFTKIT_E_USAGE',
      `train: --config must be {"method", "training", "data"} objects: ${issues}`,
      { option: 'config' },
    );
  }
  return parsed.data;
}
