/**
 * Issue 17, scale-out acceptance: a real redis-server (AOF, fsync always, temp dir), BullMQ workers and two server
 * replicas as separate processes. The openai client uploads and creates a job; once it runs, a second worker
 * starts and the first is killed with SIGKILL; the job still succeeds, its adapter equals byte for byte the one of
 * the same job run without interruption, and both replicas answer with the fine-tuned model. Then a job finishes
 * while both replicas answer a steady stream (hot load, zero failed requests), and a replica killed with SIGKILL
 * and restarted serves every succeeded fine-tuned model. Needs redis-server
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
if (!REDIS && process.env.CI === 'true')
  throw new Error('redis-server is required under CI (apt-get install -y redis-server; .ci/run does it)');
if (!REDIS) console.log('# SKIP jobs-redis: redis-server is not installed (apt-get install -y redis-server)');

/** Long enough to kill a worker mid-job on 2 loaded cores, checkpoints every 10 steps. */
const LONG = { ...JOB_BODY, peftkit: { ...JOB_BODY.peftkit, steps: 120 } };

async function adapterFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = (await readFile(join(dir, name))).toString('base64');
  return out;
}

describe('fine-tuning jobs on BullMQ/Redis: workers, replicas, SIGKILL mid-job', {
  skip: !REDIS,
  timeout: 900_000,
}, () => {
  let dir: string;
  let redis: Proc;
  let redisPort: number;
  const procs: Proc[] = [];
  let replicas: Proc[] = [];
  const urls: string[] = [];
  let store: string;
  let adapters: string;
  const env = { PEFTKIT_API_KEYS: 'key-a,key-b', PEFTKIT_ADMIN_KEY: 'admin' };
  const worker = () => {
    const p = peftkit(
      [
        'worker',
        '--model',
        MODEL,
        '--store',
        store,
        '--adapters',
        adapters,
        '--redis',
        `redis://127.0.0.1:${redisPort}`,
        '--lock-ms',
        '3000',
      ],
      env,
    );
    procs.push(p);
    return p;
  };
  const serve = () => {
    const p = peftkit(
      [
        'serve',
        '--model',
        MODEL,
        '--adapters',
        adapters,
        '--store',
        store,
        '--redis',
        `redis://127.0.0.1:${redisPort}`,
        '--port',
        '0',
      ],
      env,
    );
    procs.push(p);
    return p;
  };
  const client = (url: string, key = 'key-a') =>
    new OpenAI({ baseURL: `${url.replace(/\/$/, '')}/v1`, apiKey: key, maxRetries: 0, timeout: 60_000 });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peftkit-jobs-redis-'));
    store = join(dir, 'store');
    adapters = join(dir, 'adapters');
    await mkdir(adapters, { recursive: true });
    await mkdir(join(dir, 'redis'));
    redisPort = await freePort();
    redis = await startRedis(join(dir, 'redis'), redisPort);
    replicas = [serve(), serve()];
    for (const r of replicas) urls.push((await r.waitFor(/listening on (\S+)/))[1] as string);
  });
  after(async () => {
    for (const p of procs) await p.stop();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let fineTuned = '';
  let killedJob = '';

  it(
    'resumes a job on another worker after SIGKILL; the adapter equals an uninterrupted run byte for ' + 'byte',
    async () => {
      const first = worker();
      await first.waitFor(/worker ready/);
      const a = client(urls[0] as string);
      const file = await a.files.create({ file: await toFile(Buffer.from(AHOY), 'ahoy.jsonl'), purpose: 'fine-tune' });
      const job = await a.fineTuning.jobs.create({
        model: 'peftkit-moby',
        training_file: file.id,
        ...LONG,
      } as OpenAI.FineTuning.JobCreateParams);
      killedJob = job.id;
      await poll(a, job.id, (s) => s === 'running');
      const second = worker();
      await second.waitFor(/worker ready/);
      // past the first checkpoint (step 10), well before the end
      const deadline = Date.now() + 120_000;
      for (;;) {
        const j = (await a.fineTuning.jobs.retrieve(job.id)) as unknown as {
          status: string;
          peftkit: { step: number };
        };
        if (j.peftkit.step >= 15) break;
        assert.notEqual(j.status, 'succeeded', 'the job ended before the worker could be killed: make it longer');
        assert.ok(Date.now() < deadline, 'the job does not progress');
        await new Promise((r) => setTimeout(r, 100));
      }
      await first.stop('SIGKILL');
      const done = await poll(
        client(urls[1] as string),
        job.id,
        (s) => s === 'succeeded' || s === 'failed' || s === 'cancelled',
      );
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
      fineTuned = done.fine_tuned_model as string;
      const messages: string[] = [];
      for await (const e of a.fineTuning.jobs.listEvents(job.id, { limit: 50 })) messages.push(e.message); // every page
      assert.ok(
        messages.some((m) => /Resuming from checkpoint-\d+/.test(m)),
        'the second worker resumed from a checkpoint',
      );

      // the same job, uninterrupted, on the surviving worker
      const again = await a.fineTuning.jobs.create({
        model: 'peftkit-moby',
        training_file: file.id,
        ...LONG,
      } as OpenAI.FineTuning.JobCreateParams);
      const reference = await poll(a, again.id, (s) => s === 'succeeded' || s === 'failed');
      assert.equal(reference.status, 'succeeded');
      const [resumed, straight] = await Promise.all([
        adapterFiles(join(adapters, job.id)),
        adapterFiles(join(adapters, again.id)),
      ]);
      assert.deepEqual(Object.keys(resumed), Object.keys(straight));
      assert.deepEqual(resumed, straight, 'byte-identical adapters');
    },
  );

  it('serves the fine-tuned model from both replicas; another key gets 404', async () => {
    for (const url of urls) {
      const out = await client(url).completions.create({
        model: fineTuned,
        prompt: 'The whale said',
        max_tokens: 8,
        temperature: 0,
      });
      assert.match(out.choices[0]?.text ?? '', /ahoy/, `${url}: '${out.choices[0]?.text}'`);
      const b = client(url, 'key-b');
      await assert.rejects(b.fineTuning.jobs.retrieve(killedJob), (e: { status?: number }) => e.status === 404);
      await assert.rejects(
        b.completions.create({ model: fineTuned, prompt: 'x', max_tokens: 1 }),
        (e: { status?: number }) => e.status === 404,
      );
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
    const job = await a.fineTuning.jobs.create({
      model: 'peftkit-moby',
      training_file: file.id,
      peftkit: { steps: 3 },
    } as OpenAI.FineTuning.JobCreateParams);
    await redis.stop('SIGTERM');
    redis = await startRedis(join(dir, 'redis'), redisPort);
    const w = worker();
    await w.waitFor(/worker ready/);
    const done = await poll(a, job.id, (s) => s === 'succeeded' || s === 'failed');
    assert.equal(done.status, 'succeeded');
  });

  const ask = async (url: string, model: string, maxTokens = 8, stream = false): Promise<string> => {
    const params = { model, prompt: 'The whale said', max_tokens: maxTokens, temperature: 0 };
    if (!stream) return (await client(url).completions.create(params)).choices[0]?.text ?? '';
    let text = ''; // a failure after the 200 arrives as an error event, which the client throws
    for await (const chunk of await client(url).completions.create({ ...params, stream: true }))
      text += chunk.choices[0]?.text ?? '';
    return text;
  };
  /** The adapters a replica holds in memory (admin route), by name. */
  const loaded = async (url: string): Promise<string[]> => {
    const res = await fetch(`${url.replace(/\/$/, '')}/v1/adapters`, { headers: { authorization: 'Bearer admin' } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { data: { name: string }[] }).data.map((a) => a.name);
  };

  it('hot-loads a finished adapter on both replicas while a steady stream of completions sees no failure', async () => {
    // runs after the Redis restart: the replicas' queue and subscriber connections came back by themselves
    const a = client(urls[0] as string);
    const base = await ask(urls[0] as string, 'peftkit-moby', 6);
    let stop = false;
    let served = 0;
    const failures: string[] = [];
    const steady = async (url: string, model: string) => {
      for (let i = 0; !stop; i++) {
        try {
          const text = await ask(url, model, 6, i % 2 === 1);
          const right = model === fineTuned ? /ahoy/.test(text) : text === base;
          if (!right) failures.push(`${url} ${model}: answered '${text}'`);
          served++;
        } catch (error) {
          failures.push(`${url} ${model}: ${(error as Error).message}`);
        }
      }
    };
    const streams = urls.flatMap((url) => [steady(url, 'peftkit-moby'), steady(url, fineTuned)]);
    let id = '';
    try {
      const file = await a.files.create({ file: await toFile(Buffer.from(AHOY), 'ahoy.jsonl'), purpose: 'fine-tune' });
      const job = await a.fineTuning.jobs.create({
        model: 'peftkit-moby',
        training_file: file.id,
        ...JOB_BODY,
      } as OpenAI.FineTuning.JobCreateParams);
      id = job.id;
      const done = await poll(a, job.id, (s) => s === 'succeeded' || s === 'failed' || s === 'cancelled');
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
      // each replica loads it from the worker's announcement, before any request names it
      const deadline = Date.now() + 30_000;
      for (const url of urls) {
        while (!(await loaded(url)).includes(job.id)) {
          assert.ok(Date.now() < deadline, `${url} did not hot-load ${job.id}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      stop = true;
      await Promise.all(streams);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${served + failures.length} requests failed`);
    assert.ok(served >= 8, `a steady stream: ${served} requests`);
    console.log(`hot load under a steady stream: ${served} requests (half streamed), 0 failed`);
    const model = `ft:peftkit-moby:ahoy:${id}`;
    for (const url of urls) assert.match(await ask(url, model), /ahoy/, `${url} serves ${model}`);
  });

  it('serves every succeeded fine-tuned model from a replica killed with SIGKILL and restarted', async () => {
    const succeeded: OpenAI.FineTuning.FineTuningJob[] = [];
    for await (const j of client(urls[1] as string, 'admin').fineTuning.jobs.list({ limit: 100 }))
      if (j.status === 'succeeded') succeeded.push(j);
    assert.ok(succeeded.length >= 4, `${succeeded.length} succeeded jobs`);
    await replicas[0]?.stop('SIGKILL');
    const restarted = serve();
    replicas = [restarted, replicas[1] as Proc];
    urls[0] = (await restarted.waitFor(/listening on (\S+)/))[1] as string;
    for (const job of succeeded) {
      const model = job.fine_tuned_model as string;
      // nothing in memory after the restart: loaded from the adapter root by the model's name
      const again = await ask(urls[0] as string, model);
      const other = await ask(urls[1] as string, model);
      assert.equal(again, other, `${model}: the restarted replica answers as the other one`);
      if (model.startsWith('ft:peftkit-moby:ahoy:'))
        assert.match(again, /ahoy/, `${model}: trained behaviour after the restart`);
    }
  });
});
