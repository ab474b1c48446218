import { downloadModel } from '@peftkit/models';
import { DEFAULT_HUB_ENDPOINT } from '@peftkit/models';
import { parseCommand } from './args.ts';
import type { Command } from './commands.ts';
import { PeftkitError } from '@peftkit/io';

const usage = `Usage: peftkit download <owner/name> [--revision R] [--out dir] [--endpoint URL] [--file F]... [--force]

Downloads a model repository from the Hugging Face Hub (every file of the revision, or only the --file ones)
into --out (default: ./<name>). Transfers resume after interruptions (also across runs, from <file>.incomplete),
LFS files are checked against their sha256, others against their size.
Environment: HF_TOKEN (access token for private or gated repos), HF_ENDPOINT (default ${DEFAULT_HUB_ENDPOINT}).`;

export const downloadCommand: Command = {
  name: 'download',
  summary: 'download a model repository from the Hugging Face Hub (resumable, verified)',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(
      argv,
      {
        revision: { type: 'string' },
        out: { type: 'string' },
        endpoint: { type: 'string' },
        file: { type: 'string', multiple: true },
        force: { type: 'boolean' },
      },
      'download',
    );
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const [repo, extra] = positionals;
    if (repo === undefined || extra !== undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_USAGE',
        "download: expected exactly one <owner/name> (see 'peftkit download --help')",
        { command: 'download' },
      );
    }
    const env = typeof process === 'undefined' ? {} : process.env;
    const files = values.file as string[] | undefined;
    let lastLine = 0;
    const result = await downloadModel({
      repo,
      revision: (values.revision as string | undefined) ?? 'main',
      dir: (values.out as string | undefined) ?? repo.split('/').pop() ?? repo,
      endpoint: (values.endpoint as string | undefined) ?? env.HF_ENDPOINT ?? DEFAULT_HUB_ENDPOINT,
      ...(env.HF_TOKEN ? { token: env.HF_TOKEN } : {}),
      ...(files === undefined ? {} : { files }),
      force: values.force === true,
      onProgress: ({ file, received, total }) => {
        // At most one progress line per second per run, on stderr so stdout stays scriptable.
        const now = Date.now();
        if (now - lastLine < 1000) return;
        lastLine = now;
        io.err(
          `${file}: ${(received / 1e6).toFixed(1)}${total === undefined ? '' : ` / ${(total / 1e6).toFixed(1)}`} MB`,
        );
      },
    });
    for (const f of result.files) {
      io.err(
        `${f.cached ? 'kept  ' : 'fetched'} ${f.file}${f.cached ? '' : ` (${f.size} bytes, verified: ${f.verified})`}`,
      );
    }
    io.out(result.dir);
    return 0;
  },
};
