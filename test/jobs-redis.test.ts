/**
 * Issue 17, scale-out acceptance: a real redis-server (AOF, fsync always, temp dir), BullMQ workers and two server
 * replicas as separate processes. The openai client uploads and creates a job; once it runs, a second worker
 * starts and the first is killed with SIGKILL; the job still succeeds, its adapter equals byte for byte the one of
 * the same job run without interruption, and both replicas answer with the fine-tuned model. Needs redis-server
 * (Debian's package; .ci/run installs it): skipped visibly without it, failed without it under CI=true.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI, { toFile } from 'openai';
import { AHOY, JOB_BODY, poll } from './support/jobs.ts';
import { freePort, hasRedis, peftkit, type Proc, startRedis } from './support/processes.ts';

const MODEL = fileURLToPath(new URL('../app/assets/peftkit-moby', import.meta.url));
const REDIS = hasRedis();
if (!REDIS && process.env.CI === 'true') throw new Error('redis-server is required under CI (apt-get install -y redis-server; .ci/run does it)');
if (!REDIS) console.log('# SKIP jobs-redis: redis-server is not installed (apt-get install -y redis-server)');

/** Long enough to kill a worker mid-job on 2 loaded cores, checkpoints every 10 steps. */
const LONG = { ...JOB_BODY, peftkit: { ...JOB_BODY.peftkit, steps: 120 } };

async function adapterFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = (await readFile(join(dir, name))).toString('base64');
  return out;
}

describe('fine-tuning jobs on BullMQ/Redis: workers, replicas, SIGKILL mid-job', { skip: !REDIS, timeout: 900_000 }, () => {
  let dir: string;
  let redis: Proc;
  let redisPort: number;
  const procs: Proc[] = [];
  const urls: string[] = [];
  let store: string;
  let adapters: string;
  const env = { PEFTKIT_API_KEYS: 'key-a,key-b', PEFTKIT_ADMIN_KEY: 'admin' };
  const worker = () => {
    const p = peftkit(
      ['worker', '--model', MODEL, '--store', store, '--adapters', adapters, '--redis', `redis://127.0.0.1:${redisPort}`, '--lock-ms', '3000'],
      env,
    );
    procs.push(p);
    return p;
  };
  const client = (url: string, key = 'key-a') => new OpenAI({ baseURL: `${url.replace(/\/$/, '')}/v1`, apiKey: key, maxRetries: 0, timeout: 60_000 });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peftkit-jobs-redis-'));
    store = join(dir, 'store');
    adapters = join(dir, 'adapters');
    await mkdir(adapters, { recursive: true });
    await mkdir(join(dir, 'redis'));
    redisPort = await freePort();
    redis = await startRedis(join(dir, 'redis'), redisPort);
    const replicas = [0, 1].map(() =>
      peftkit(['serve', '--model', MODEL, '--adapters', adapters, '--store', store, '--redis', `redis://127.0.0.1:${redisPort}`, '--port', '0'], env),
    );
    procs.push(...replicas);
    for (const r of replicas) urls.push((await r.waitFor(/listening on (\S+)/))[1] as string);
  });
  after(async () => {
    for (const p of procs) await p.stop();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let fineTuned = '';
  let killedJob = '';

  it('resumes a job on another worker after SIGKILL; the adapter equals an uninterrupted run byte for byte', async () => {
    const first = worker();
    await first.waitFor(/worker ready/);
    const a = client(urls[0] as string);
    const file = await a.files.create({ file: await toFile(Buffer.from(AHOY), 'ahoy.jsonl'), purpose: 'fine-tune' });
    const job = await a.fineTuning.jobs.create({ model: 'peftkit-moby', training_file: file.id, ...LONG } as OpenAI.FineTuning.JobCreateParams);
    killedJob = job.id;
    await poll(a, job.id, (s) => s === 'running');
    const second = worker();
    await second.waitFor(/worker ready/);
    // past the first checkpoint (step 10), well before the end
    const deadline = Date.now() + 120_000;
    for (;;) {
      const j = (await a.fineTuning.jobs.retrieve(job.id)) as unknown as { status: string; peftkit: { step: number } };
      if (j.peftkit.step >= 15) break;
      assert.notEqual(j.status, 'succeeded', 'the job ended before the worker could be killed: make it longer');
      assert.ok(Date.now() < deadline, 'the job does not progress');
      await new Promise((r) => setTimeout(r, 100));
    }
    await first.stop('SIGKILL');
    const done = await poll(client(urls[1] as string), job.id, (s) => s === 'succeeded' || s === 'failed' || s === 'cancelled');
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    fineTuned = done.fine_tuned_model as string;
    const messages: string[] = [];
    for await (const e of a.fineTuning.jobs.listEvents(job.id, { limit: 50 })) messages.push(e.message); // every page
    assert.ok(
      messages.some((m) => /Resuming from checkpoint-\d+/.test(m)),
      'the second worker resumed from a checkpoint',
    );

    // the same job, uninterrupted, on the surviving worker
    const again = await a.fineTuning.jobs.create({ model: 'peftkit-moby', training_file: file.id, ...LONG } as OpenAI.FineTuning.JobCreateParams);
    const reference = await poll(a, again.id, (s) => s === 'succeeded' || s === 'failed');
    assert.equal(reference.status, 'succeeded');
    const [resumed, straight] = await Promise.all([adapterFiles(join(adapters, job.id)), adapterFiles(join(adapters, again.id))]);
    assert.deepEqual(Object.keys(resumed), Object.keys(straight));
    assert.deepEqual(resumed, straight, 'byte-identical adapters');
  });

  it('serves the fine-tuned model from both replicas; another key gets 404', async () => {
    for (const url of urls) {
      const out = await client(url).completions.create({ model: fineTuned, prompt: 'The whale said', max_tokens: 8, temperature: 0 });
      assert.match(out.choices[0]?.text ?? '', /ahoy/, `${url}: '${out.choices[0]?.text}'`);
      const b = client(url, 'key-b');
      await assert.rejects(b.fineTuning.jobs.retrieve(killedJob), (e: { status?: number }) => e.status === 404);
      await assert.rejects(b.completions.create({ model: fineTuned, prompt: 'x', max_tokens: 1 }), (e: { status?: number }) => e.status === 404);
    }
  });

  it('fails a job on bad data with the coded error in its events', async () => {
    const a = client(urls[1] as string);
    // valid JSONL chat records, but the embedded model has no chat template to render them with
    const chat = `${JSON.stringify({
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'ahoy' },
      ],
    })}\n`;
    const file = await a.files.create({ file: await toFile(Buffer.from(chat), 'chat.jsonl'), purpose: 'fine-tune' });
    const body = { model: 'peftkit-moby', training_file: file.id, peftkit: { steps: 2, training: { saveEvery: 0 } } };
    const job = await a.fineTuning.jobs.create(body as OpenAI.FineTuning.JobCreateParams);
    const failed = await poll(a, job.id, (s) => s === 'failed' || s === 'succeeded');
    assert.equal(failed.status, 'failed');
    const events = await a.fineTuning.jobs.listEvents(job.id);
    assert.match(events.data[0]?.message ?? '', /PEFTKIT_E_DATA_/);
  });

  it('loses no queued job across a Redis restart (AOF, appendfsync always)', async () => {
    for (const p of procs.filter((p) => /worker/.test(p.child.spawnargs.join(' ')))) await p.stop();
    const a = client(urls[0] as string);
    const file = await a.files.create({ file: await toFile(Buffer.from(AHOY), 'ahoy.jsonl'), purpose: 'fine-tune' });
    const job = await a.fineTuning.jobs.create({ model: 'peftkit-moby', training_file: file.id, peftkit: { steps: 3 } } as OpenAI.FineTuning.JobCreateParams);
    await redis.stop('SIGTERM');
    redis = await startRedis(join(dir, 'redis'), redisPort);
    const w = worker();
    await w.waitFor(/worker ready/);
    const done = await poll(a, job.id, (s) => s === 'succeeded' || s === 'failed');
    assert.equal(done.status, 'succeeded');
  });
});
