import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { PeftkitError } from '@peftkit/io';
import { parseCommand } from './args.ts';
import type { Command, CommandIo } from './commands.ts';

const usage = `Usage: peftkit jobs create --model <base> (--file <data.jsonl> | --training-file <file id>)
                          [--validation-file <file id>] [--suffix S] [--seed N] [--method <plugin>]
                          [--config <JSON>] [--steps N] [--lr X] [--epochs N] [--batch N] [--wait]
       peftkit jobs list [--limit N] [--after <job id>]
       peftkit jobs get|cancel|pause|resume <job id>
       peftkit jobs events <job id> [--limit N]
Common: [--url <server>] (default $PEFTKIT_URL or http://127.0.0.1:8000) [--key <API key>] (default $PEFTKIT_API_KEY)

A thin client of a server's OpenAI-compatible fine-tuning API (peftkit serve --store <dir>). Prints JSON;
--wait polls a created job until it succeeds, fails or is cancelled (exit 1 unless it succeeded). See docs/jobs.md.`;

interface Client {
  call(method: string, path: string, body?: unknown): Promise<unknown>;
}

function client(url: string, key: string | undefined): Client {
  const base = url.replace(/\/+$/, '');
  return {
    async call(method, path, body) {
      const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
      let payload: string | FormData | undefined;
      if (body instanceof FormData) payload = body;
      else if (body !== undefined) {
        payload = JSON.stringify(body);
        headers['content-type'] = 'application/json';
      }
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
      } catch (error) {
        throw new PeftkitError('PEFTKIT_E_USAGE', `jobs: cannot reach ${base}: ${(error as Error).message}`, {
          url: base,
        });
      }
      const text = await res.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {}
      if (!res.ok) {
        const e = (json as { error?: { code?: string; message?: string } }).error;
        const code = res.status === 404 ? 'PEFTKIT_E_JOB_NOT_FOUND' : 'PEFTKIT_E_JOB_STATE';
        throw new PeftkitError(
          code,
          `jobs: ${method} ${path} → ${res.status} ${e?.code ?? ''}: ${e?.message ?? text}`,
          { status: res.status },
        );
      }
      return json;
    },
  };
}

const num = (v: unknown, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n))
    throw new PeftkitError('PEFTKIT_E_USAGE', `jobs: --${name} must be a number, got '${String(v)}'`, { option: name });
  return n;
};

async function create(api: Client, values: Record<string, unknown>, io: CommandIo): Promise<number> {
  if (typeof values.model !== 'string')
    throw new PeftkitError('PEFTKIT_E_USAGE', 'jobs create: --model is required', { option: 'model' });
  let training = values['training-file'] as string | undefined;
  if (typeof values.file === 'string') {
    const form = new FormData();
    form.set('purpose', 'fine-tune');
    form.set('file', new File([await readFile(values.file)], basename(values.file)));
    training = ((await api.call('POST', '/v1/files', form)) as { id: string }).id;
    io.err(`uploaded ${values.file} as ${training}`);
  }
  if (training === undefined)
    throw new PeftkitError('PEFTKIT_E_USAGE', 'jobs create: give --file or --training-file', { option: 'file' });
  const peftkit: Record<string, unknown> = { method: (values.method as string | undefined) ?? 'lora' };
  if (typeof values.config === 'string') {
    try {
      peftkit.config = JSON.parse(values.config);
    } catch {
      throw new PeftkitError('PEFTKIT_E_USAGE', 'jobs create: --config is not valid JSON', { option: 'config' });
    }
  }
  const steps = num(values.steps, 'steps');
  const lr = num(values.lr, 'lr');
  if (steps !== undefined) peftkit.steps = steps;
  if (lr !== undefined) peftkit.lr = lr;
  const hyperparameters: Record<string, number> = {};
  const epochs = num(values.epochs, 'epochs');
  const batch = num(values.batch, 'batch');
  if (epochs !== undefined) hyperparameters.n_epochs = epochs;
  if (batch !== undefined) hyperparameters.batch_size = batch;
  const body: Record<string, unknown> = {
    model: values.model,
    training_file: training,
    peftkit,
    method: { type: 'supervised', supervised: { hyperparameters } },
  };
  if (values['validation-file'] !== undefined) body.validation_file = values['validation-file'];
  if (values.suffix !== undefined) body.suffix = values.suffix;
  const seed = num(values.seed, 'seed');
  if (seed !== undefined) body.seed = seed;
  let job = (await api.call('POST', '/v1/fine_tuning/jobs', body)) as { id: string; status: string };
  if (values.wait) {
    while (!['succeeded', 'failed', 'cancelled'].includes(job.status)) {
      await new Promise((r) => setTimeout(r, 1000));
      job = (await api.call('GET', `/v1/fine_tuning/jobs/${job.id}`)) as typeof job;
    }
  }
  io.out(JSON.stringify(job, null, 2));
  return values.wait && job.status !== 'succeeded' ? 1 : 0;
}

export const jobsCommand: Command = {
  name: 'jobs',
  summary: 'create, list, inspect and cancel fine-tuning jobs on a server (OpenAI fine-tuning API client)',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(
      argv,
      {
        url: { type: 'string' },
        key: { type: 'string' },
        model: { type: 'string' },
        file: { type: 'string' },
        'training-file': { type: 'string' },
        'validation-file': { type: 'string' },
        suffix: { type: 'string' },
        seed: { type: 'string' },
        method: { type: 'string' },
        config: { type: 'string' },
        steps: { type: 'string' },
        lr: { type: 'string' },
        epochs: { type: 'string' },
        batch: { type: 'string' },
        limit: { type: 'string' },
        after: { type: 'string' },
        wait: { type: 'boolean' },
      },
      'jobs',
    );
    const [action, id] = positionals;
    if (values.help || action === undefined) {
      io.out(usage);
      return action === undefined && !values.help ? 2 : 0;
    }
    const api = client(
      (values.url as string | undefined) ?? process.env.PEFTKIT_URL ?? 'http://127.0.0.1:8000',
      (values.key as string | undefined) ?? process.env.PEFTKIT_API_KEY,
    );
    const needId = () => {
      if (id === undefined || !/^ftjob-[A-Za-z0-9]+$/.test(id))
        throw new PeftkitError('PEFTKIT_E_USAGE', `jobs ${action}: give a job id (ftjob-…)`, { command: 'jobs' });
      return id;
    };
    const query = new URLSearchParams();
    if (values.limit !== undefined) query.set('limit', String(values.limit));
    if (values.after !== undefined) query.set('after', String(values.after));
    const qs = query.size > 0 ? `?${query}` : '';
    const print = (value: unknown) => {
      io.out(JSON.stringify(value, null, 2));
      return 0;
    };
    switch (action) {
      case 'create':
        return create(api, values, io);
      case 'list':
        return print(await api.call('GET', `/v1/fine_tuning/jobs${qs}`));
      case 'get':
        return print(await api.call('GET', `/v1/fine_tuning/jobs/${needId()}`));
      case 'cancel':
      case 'pause':
      case 'resume':
        return print(await api.call('POST', `/v1/fine_tuning/jobs/${needId()}/${action}`));
      case 'events':
        return print(await api.call('GET', `/v1/fine_tuning/jobs/${needId()}/events${qs}`));
      default:
        throw new PeftkitError(
          'PEFTKIT_E_USAGE',
          `jobs: unknown action '${action}' (create, list, get, cancel, pause, resume, events)`,
          { command: 'jobs' },
        );
    }
  },
};
