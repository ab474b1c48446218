/**
 * Issue 17, embedded default: `peftkit serve --store` trains jobs in-process. The real `openai` client uploads a
 * JSONL file, creates a job on the embedded model, polls it to `succeeded` and completes with the fine-tuned
 * model; another API key gets 404 for the job, its file and its model; a restart on the same store loses nothing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI, { toFile } from 'openai';
import { parseServeArgs } from '../app/src/serve/options.ts';
import { type RunningServer, startServer } from '../app/src/serve/serve.ts';
import { AHOY, JOB_BODY, poll } from './support/jobs.ts';

const MODEL = fileURLToPath(new URL('../app/assets/peftkit-moby', import.meta.url));
describe('fine-tuning jobs through the openai client, embedded queue (peftkit serve --store)', {
  timeout: 600_000,
}, () => {
  let dir: string;
  let server: RunningServer;
  const env = { PEFTKIT_API_KEYS: 'key-a,key-b', PEFTKIT_ADMIN_KEY: 'admin' };
  const start = async () => {
    const argv = ['--model', MODEL, '--adapters', join(dir, 'adapters'), '--store', join(dir, 'store'), '--port', '0'];
    server = await startServer(parseServeArgs(argv, env));
  };
  const client = (key: string) =>
    new OpenAI({ baseURL: `${server.url.replace(/\/$/, '')}/v1`, apiKey: key, maxRetries: 0 });
  let fineTuned = '';
  let jobId = '';
  let fileId = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peftkit-jobs-e2e-'));
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'adapters'));
    await start();
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('uploads, trains to succeeded and completes with fine_tuned_model', async () => {
    const a = client('key-a');
    const file = await a.files.create({ file: await toFile(Buffer.from(AHOY), 'ahoy.jsonl'), purpose: 'fine-tune' });
    assert.equal(file.purpose, 'fine-tune');
    fileId = file.id;
    const created = await a.fineTuning.jobs.create({
      model: 'peftkit-moby',
      training_file: file.id,
      ...JOB_BODY,
    } as OpenAI.FineTuning.JobCreateParams);
    jobId = created.id;
    const job = await poll(a, created.id, (s) => s === 'succeeded' || s === 'failed' || s === 'cancelled');
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.fine_tuned_model, `ft:peftkit-moby:ahoy:${job.id}`);
    fineTuned = job.fine_tuned_model as string;
    const ask = (model: string) =>
      a.completions.create({ model, prompt: 'The whale said', max_tokens: 8, temperature: 0 });
    const [tuned, base] = await Promise.all([ask(fineTuned), ask('peftkit-moby')]);
    assert.match(tuned.choices[0]?.text ?? '', /ahoy/, `trained behaviour: '${tuned.choices[0]?.text}'`);
    assert.doesNotMatch(base.choices[0]?.text ?? '', /ahoy ahoy/, 'the base does not say it');
    const checkpoint = await ask(`${fineTuned}:ckpt-step-20`);
    assert.equal(typeof checkpoint.choices[0]?.text, 'string', 'a checkpoint is servable by its own name');
    const events = await a.fineTuning.jobs.listEvents(job.id, { limit: 100 });
    assert.ok(events.data.some((e) => e.type === 'metrics'));
    const checkpoints = await a.fineTuning.jobs.checkpoints.list(job.id);
    assert.deepEqual(
      checkpoints.data.map((c) => c.step_number),
      [30, 20, 10],
    );
  });

  it('gives another API key 404 for the job, its file and its model', async () => {
    const b = client('key-b');
    await assert.rejects(b.fineTuning.jobs.retrieve(jobId), (e: { status?: number }) => e.status === 404);
    await assert.rejects(b.files.retrieve(fileId), (e: { status?: number }) => e.status === 404);
    await assert.rejects(b.files.content(fileId), (e: { status?: number }) => e.status === 404);
    await assert.rejects(b.fineTuning.jobs.cancel(jobId), (e: { status?: number }) => e.status === 404);
    await assert.rejects(
      b.completions.create({ model: fineTuned, prompt: 'The whale said', max_tokens: 2 }),
      (e: { status?: number }) => e.status === 404,
    );
    await assert.rejects(b.models.retrieve(fineTuned), (e: { status?: number }) => e.status === 404);
    const admin = client('admin');
    assert.equal((await admin.fineTuning.jobs.retrieve(jobId)).status, 'succeeded', 'admin sees every tenant');
  });

  it('restarts on the same store without losing files, jobs or the model', async () => {
    await server.close();
    await start();
    const a = client('key-a');
    const jobs = await a.fineTuning.jobs.list();
    assert.deepEqual(
      jobs.data.map((j) => [j.id, j.status]),
      [[jobId, 'succeeded']],
    );
    assert.equal((await a.files.retrieve(fileId)).id, fileId);
    const tuned = await a.completions.create({
      model: fineTuned,
      prompt: 'The whale said',
      max_tokens: 8,
      temperature: 0,
    });
    assert.match(tuned.choices[0]?.text ?? '', /ahoy/);
  });
});
