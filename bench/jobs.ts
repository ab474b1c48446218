/**
 * Fine-tuning jobs finished per minute with 1 and 2 BullMQ workers: a real redis-server, one `peftkit serve`
 * replica and N `peftkit worker` processes on the embedded model; the same batch of small LoRA jobs each time.
 * Usage: node --conditions=peftkit:source --import tsx bench/jobs.ts [--jobs 6] [--steps 30] [--workers 1,2]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import OpenAI, { toFile } from 'openai';
import { AHOY, poll } from '../test/support/jobs.ts';
import { freePort, hasRedis, peftkit, type Proc, startRedis } from '../test/support/processes.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '6' },
    steps: { type: 'string', default: '30' },
    workers: { type: 'string', default: '1,2' },
  },
});
const JOBS = Number(values.jobs);
const STEPS = Number(values.steps);
const MODEL = fileURLToPath(new URL('../app/assets/peftkit-moby', import.meta.url));

async function round(workers: number): Promise<{ workers: number; seconds: number; perMinute: number; load: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-bench-jobs-'));
  const procs: Proc[] = [];
  let redis: Proc | null = null;
  try {
    await mkdir(join(dir, 'adapters'));
    await mkdir(join(dir, 'redis'));
    const port = await freePort();
    redis = await startRedis(join(dir, 'redis'), port);
    const common = [
      '--model',
      MODEL,
      '--adapters',
      join(dir, 'adapters'),
      '--store',
      join(dir, 'store'),
      '--redis',
      `redis://127.0.0.1:${port}`,
    ];
    const server = peftkit(['serve', ...common, '--port', '0']);
    procs.push(server);
    const url = (await server.waitFor(/listening on (\S+)/))[1] as string;
    for (let i = 0; i < workers; i++) procs.push(peftkit(['worker', ...common]));
    for (const p of procs.slice(1)) await p.waitFor(/worker ready/);
    const client = new OpenAI({ baseURL: `${url.replace(/\/$/, '')}/v1`, apiKey: 'bench', maxRetries: 0 });
    const file = await client.files.create({
      file: await toFile(Buffer.from(AHOY), 'ahoy.jsonl'),
      purpose: 'fine-tune',
    });
    const started = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const body = {
        model: 'peftkit-moby',
        training_file: file.id,
        seed: i,
        peftkit: { steps: STEPS, lr: 0.02, training: { saveEvery: 10, batchSize: 4 } },
      };
      ids.push((await client.fineTuning.jobs.create(body as OpenAI.FineTuning.JobCreateParams)).id);
    }
    for (const id of ids) {
      const job = await poll(client, id, (s) => s === 'succeeded' || s === 'failed', 600_000);
      if (job.status !== 'succeeded') throw new Error(`job ${id} ${job.status}: ${JSON.stringify(job.error)}`);
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      workers,
      seconds,
      perMinute: (JOBS * 60) / seconds,
      load: loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
    };
  } finally {
    for (const p of procs) await p.stop();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (!hasRedis()) {
  console.error('bench jobs: redis-server is not installed (apt-get install -y redis-server)');
  process.exit(1);
}
const rows = [];
for (const w of String(values.workers).split(',').map(Number)) rows.push(await round(w));
console.log(
  `${JOBS} LoRA jobs × ${STEPS} steps (batch 4, checkpoint every 10) on peftkit-moby; ` +
    `${cpus().length} cores; ${new Date().toISOString()}`,
);
console.log('| workers | wall s | jobs/min | load avg (1/5/15 min) after |');
console.log('|---:|---:|---:|---|');
for (const r of rows) console.log(`| ${r.workers} | ${r.seconds.toFixed(1)} | ${r.perMinute.toFixed(1)} | ${r.load} |`);
