import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PeftkitError } from '@peftkit/core';
import { fakeEngine } from './fake-engine.ts';
import { createServing, EmbeddedQueue, FsStore, type JobRunner, type RunInput, type Serving } from '../src/index.ts';

/**
 * Trains nothing: counts steps (resuming from a step file, as a checkpoint would), honours the signal, fails on demand.
 */
class FakeRunner implements JobRunner {
  stepsAfterAbort = 0;
  delayMs = 15;
  async run(input: RunInput) {
    if (input.job.user_provided_suffix === 'bad')
      throw new PeftkitError('PEFTKIT_E_DATA_FIELD', 'train.jsonl:3: missing field completion', {
        file: 'train.jsonl',
        line: 3,
      });
    const total = input.job.peftkit.steps ?? 6;
    await mkdir(input.workDir, { recursive: true });
    const marker = join(input.workDir, 'step');
    let step = Number(await readFile(marker, 'utf8').catch(() => '0'));
    let abortedAt = -1;
    input.signal.addEventListener('abort', () => {
      abortedAt = step;
    });
    while (step < total && !input.signal.aborted) {
      await new Promise((r) => setTimeout(r, this.delayMs));
      step++;
      await writeFile(marker, String(step));
      await input.progress({ step, totalSteps: total, loss: 1 / step, tokens: 10 });
      if (step % 2 === 0)
        await input.checkpoint({
          step,
          dir: input.workDir,
          name: `${input.adapter}.ckpt-step-${step}`,
          loss: 1 / step,
        });
    }
    if (abortedAt >= 0) this.stepsAfterAbort = step - abortedAt;
    return { completed: step >= total, step, totalSteps: total, trainedTokens: step * 10 };
  }
}
const KEY_A = 'key-a';
const KEY_B = 'key-b';
const ADMIN = 'admin-key';
const GOOD = '{"prompt":"Q: 1+1","completion":" 2"}\n{"prompt":"Q: 2+2","completion":" 4"}\n';

describe('files and fine-tuning jobs API (embedded queue, fake runner)', () => {
  let dir: string;
  let serving: Serving;
  let queue: EmbeddedQueue;
  const runner = new FakeRunner();
  const loaded: string[] = [];

  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${key}` } };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const res = await serving.app.request(path, init);
    const text = await res.text();
    // biome-ignore lint/suspicious/noExplicitAny: test responses are read field by field
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json, text };
  };
  const upload = (key: string, text: string, name = 'train.jsonl') => {
    const form = new FormData();
    form.set('purpose', 'fine-tune');
    form.set('file', new File([text], name));
    return call('POST', '/v1/files', key, form);
  };
  // Polls against a deadline, not a count: on a loaded CI machine each poll and each runner step take longer.
  const waitFor = async (id: string, key: string, done: (s: string, job: { peftkit: { step: number } }) => boolean) => {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      const r = await call('GET', `/v1/fine_tuning/jobs/${id}`, key);
      if (done(r.json.status, r.json)) return r.json;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`job ${id} never reached the status`);
  };

  const start = async () => {
    const store = await FsStore.open(join(dir, 'store'));
    queue = new EmbeddedQueue({ store, runner, onSucceeded: async (r) => void loaded.push(r.adapter) });
    await queue.recover();
    serving = createServing(fakeEngine(loaded), {
      adminKey: ADMIN,
      jobs: { store, queue, apiKeys: [KEY_A, KEY_B], maxFileBytes: 4096, methods: () => ['lora', 'ia3'] },
    });
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peftkit-jobs-'));
    await start();
  });
  after(async () => {
    await queue.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('validates uploads at once with file:line errors, a size cap and purpose fine-tune', async () => {
    const ok = await upload(KEY_A, GOOD);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.object, 'file');
    assert.equal(ok.json.purpose, 'fine-tune');
    assert.equal(ok.json.bytes, GOOD.length);
    const bad = await upload(KEY_A, '{"prompt":"a","completion":"b"}\n{"prompt": oops}\n');
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.error.code, 'file_invalid');
    assert.match(bad.json.error.message, /train\.jsonl:2: .*PEFTKIT_E_DATA_JSON/);
    const field = await upload(KEY_A, '{"prompt":"a","completion":"b"}\n{"prompt":"c"}\n');
    assert.match(field.json.error.message, /train\.jsonl:2/);
    const big = await upload(KEY_A, GOOD.repeat(200));
    assert.equal(big.status, 413, big.text);
    const form = new FormData();
    form.set('purpose', 'assistants');
    form.set('file', new File([GOOD], 'x.jsonl'));
    assert.equal((await call('POST', '/v1/files', KEY_A, form)).status, 400);
    const content = await call('GET', `/v1/files/${ok.json.id}/content`, KEY_A);
    assert.equal(content.text, GOOD);
    const unknownKey = await upload('nobody', GOOD);
    assert.equal(unknownKey.status, 401);
  });

  it('runs a job to succeeded with events, checkpoints and ft:<base>:<suffix>:<id>, hot-loaded', async () => {
    const file = (await upload(KEY_A, GOOD)).json;
    const created = await call('POST', '/v1/fine_tuning/jobs', KEY_A, {
      model: 'base',
      training_file: file.id,
      suffix: 'math',
      seed: 7,
      metadata: { team: 'a' },
      method: {
        type: 'supervised',
        supervised: { hyperparameters: { n_epochs: 2, batch_size: 1, learning_rate_multiplier: 2 } },
      },
      peftkit: { method: 'lora', config: { r: 4 }, steps: 4 },
    });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.json.object, 'fine_tuning.job');
    assert.ok(['queued', 'running'].includes(created.json.status));
    assert.deepEqual(created.json.hyperparameters, { n_epochs: 2, batch_size: 1, learning_rate_multiplier: 2 });
    const job = await waitFor(created.json.id, KEY_A, (s) => s === 'succeeded');
    assert.equal(job.fine_tuned_model, `ft:base:math:${job.id}`);
    assert.equal(job.trained_tokens, 40);
    assert.ok(loaded.includes(job.id), 'adapter hot-loaded when the job succeeded');
    const events = await call('GET', `/v1/fine_tuning/jobs/${job.id}/events?limit=100`, KEY_A);
    assert.equal(events.json.object, 'list');
    assert.match(events.json.data[0].message, /successfully completed/, 'newest first');
    assert.ok(
      events.json.data.some(
        (e: { type: string; data: { step?: number } }) => e.type === 'metrics' && e.data.step === 4,
      ),
    );
    const ckpts = await call('GET', `/v1/fine_tuning/jobs/${job.id}/checkpoints`, KEY_A);
    assert.deepEqual(
      ckpts.json.data.map((c: { step_number: number }) => c.step_number),
      [4, 2],
    );
    assert.equal(ckpts.json.data[0].fine_tuned_model_checkpoint, `ft:base:math:${job.id}:ckpt-step-4`);
    const model = await call('GET', `/v1/models/${encodeURIComponent(job.fine_tuned_model)}`, KEY_A);
    assert.equal(model.status, 200, model.text);
    assert.equal(model.json.parent, 'base');
  });

  it('keeps files, jobs and models per API key (another key: 404; admin sees all)', async () => {
    const list = await call('GET', '/v1/fine_tuning/jobs', KEY_A);
    const job = list.json.data.find((j: { status: string }) => j.status === 'succeeded');
    for (const path of [
      `/v1/fine_tuning/jobs/${job.id}`,
      `/v1/files/${job.training_file}`,
      `/v1/files/${job.training_file}/content`,
      `/v1/fine_tuning/jobs/${job.id}/events`,
    ]) {
      assert.equal((await call('GET', path, KEY_B)).status, 404, path);
      assert.equal((await call('GET', path, ADMIN)).status, 200, path);
    }
    assert.equal((await call('POST', `/v1/fine_tuning/jobs/${job.id}/cancel`, KEY_B)).status, 404);
    assert.equal((await call('DELETE', `/v1/files/${job.training_file}`, KEY_B)).status, 404);
    const completion = await call('POST', '/v1/completions', KEY_B, {
      model: job.fine_tuned_model,
      prompt: 'hi',
      max_tokens: 1,
    });
    assert.equal(completion.status, 404, completion.text);
    assert.equal(completion.json.error.code, 'model_not_found');
    assert.equal(
      (await call('POST', '/v1/completions', KEY_B, { model: job.id, prompt: 'hi' })).status,
      404,
      'the adapter name too',
    );
    assert.equal((await call('GET', `/v1/models/${job.fine_tuned_model}`, KEY_B)).status, 404);
    // the owner passes the guard (the route then answers as for any adapter)
    const own = await call('POST', '/v1/completions', KEY_A, {
      model: job.fine_tuned_model,
      prompt: 'hi',
      max_tokens: 1,
    });
    assert.notEqual(own.json?.error?.code, 'model_not_found', own.text);
    const models = await call('GET', '/v1/models', KEY_B);
    assert.ok(!models.text.includes(job.id), 'another key does not see the model listed');
    assert.equal((await call('GET', '/v1/fine_tuning/jobs', KEY_B)).json.data.length, 0);
    assert.equal((await call('GET', '/v1/files', KEY_B)).json.data.length, 0);
  });

  it('paginates jobs with after/limit/has_more as OpenAI', async () => {
    const file = (await upload(KEY_B, GOOD)).json;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(
        (
          await call('POST', '/v1/fine_tuning/jobs', KEY_B, {
            model: 'base',
            training_file: file.id,
            peftkit: { steps: 1 },
          })
        ).json.id,
      );
    const first = await call('GET', '/v1/fine_tuning/jobs?limit=2', KEY_B);
    assert.equal(first.json.data.length, 2);
    assert.equal(first.json.has_more, true);
    const rest = await call('GET', `/v1/fine_tuning/jobs?limit=2&after=${first.json.data[1].id}`, KEY_B);
    assert.equal(rest.json.data.length, 1);
    assert.equal(rest.json.has_more, false);
    assert.deepEqual(new Set([...first.json.data, ...rest.json.data].map((j: { id: string }) => j.id)), new Set(ids));
    for (const id of ids) await waitFor(id, KEY_B, (s) => s === 'succeeded');
  });

  it('cancels a running job within one step, pauses and resumes from the step it reached', async () => {
    const file = (await upload(KEY_A, GOOD)).json;
    runner.delayMs = 40;
    const job = (
      await call('POST', '/v1/fine_tuning/jobs', KEY_A, {
        model: 'base',
        training_file: file.id,
        peftkit: { steps: 200 },
      })
    ).json;
    await waitFor(job.id, KEY_A, (s) => s === 'running');
    await new Promise((r) => setTimeout(r, 120));
    assert.equal((await call('POST', `/v1/fine_tuning/jobs/${job.id}/cancel`, KEY_A)).status, 200);
    const cancelled = await waitFor(job.id, KEY_A, (s) => s === 'cancelled');
    assert.ok(runner.stepsAfterAbort <= 1, `stopped within one step (${runner.stepsAfterAbort})`);
    assert.equal((await call('POST', `/v1/fine_tuning/jobs/${job.id}/cancel`, KEY_A)).json.error.code, 'job_state');
    assert.ok(cancelled.peftkit.step < 200);

    // Paused once it has made progress (not after a fixed sleep: under load the first step can take longer), with
    // enough steps left that it cannot finish before the pause lands.
    const second = (
      await call('POST', '/v1/fine_tuning/jobs', KEY_A, {
        model: 'base',
        training_file: file.id,
        peftkit: { steps: 60 },
      })
    ).json;
    await waitFor(second.id, KEY_A, (s, j) => s === 'running' && j.peftkit.step > 0);
    await call('POST', `/v1/fine_tuning/jobs/${second.id}/pause`, KEY_A);
    const paused = await waitFor(second.id, KEY_A, (s) => s === 'paused');
    assert.ok(paused.peftkit.step > 0 && paused.peftkit.step < 60, `paused at ${paused.peftkit.step}`);
    runner.delayMs = 2;
    await call('POST', `/v1/fine_tuning/jobs/${second.id}/resume`, KEY_A);
    const done = await waitFor(second.id, KEY_A, (s) => s === 'succeeded');
    assert.equal(done.trained_tokens, 60 * 10, 'every step trained once: the resumed part continued from the pause');
  });

  it('fails a job with bad data, the coded error in the job and its events', async () => {
    const file = (await upload(KEY_A, GOOD)).json;
    const job = (
      await call('POST', '/v1/fine_tuning/jobs', KEY_A, { model: 'base', training_file: file.id, suffix: 'bad' })
    ).json;
    const failed = await waitFor(job.id, KEY_A, (s) => s === 'failed');
    assert.equal(failed.error.code, 'PEFTKIT_E_DATA_FIELD');
    assert.match(failed.error.message, /train\.jsonl:3/);
    const events = await call('GET', `/v1/fine_tuning/jobs/${job.id}/events`, KEY_A);
    assert.equal(events.json.data[0].level, 'error');
    assert.match(events.json.data[0].message, /PEFTKIT_E_DATA_FIELD/);
  });

  it('refuses an unknown base model, a file of another key and an unknown method', async () => {
    const mine = (await upload(KEY_A, GOOD)).json;
    assert.equal(
      (await call('POST', '/v1/fine_tuning/jobs', KEY_A, { model: 'gpt-4o', training_file: mine.id })).json.error.code,
      'job_model',
    );
    assert.equal(
      (await call('POST', '/v1/fine_tuning/jobs', KEY_B, { model: 'base', training_file: mine.id })).status,
      404,
    );
    assert.equal(
      (
        await call('POST', '/v1/fine_tuning/jobs', KEY_A, {
          model: 'base',
          training_file: mine.id,
          peftkit: { method: 'nope' },
        })
      ).json.error.code,
      'job_method',
    );
  });

  it('loses nothing across a restart: records reload and a job left running resumes', async () => {
    const file = (await upload(KEY_A, GOOD)).json;
    runner.delayMs = 30;
    const job = (
      await call('POST', '/v1/fine_tuning/jobs', KEY_A, {
        model: 'base',
        training_file: file.id,
        peftkit: { steps: 20 },
      })
    ).json;
    await waitFor(job.id, KEY_A, (s) => s === 'running');
    await new Promise((r) => setTimeout(r, 100));
    const before = (await call('GET', '/v1/fine_tuning/jobs?limit=100', KEY_A)).json.data.length;
    await queue.close(); // as a stopping server: the job stays running
    assert.equal((await call('GET', `/v1/fine_tuning/jobs/${job.id}`, KEY_A)).json.status, 'running');
    runner.delayMs = 2;
    await start();
    const done = await waitFor(job.id, KEY_A, (s) => s === 'succeeded');
    assert.equal(done.trained_tokens, 200, 'continued from the step it had reached');
    assert.equal((await call('GET', '/v1/fine_tuning/jobs?limit=100', KEY_A)).json.data.length, before);
    const events = (await call('GET', `/v1/fine_tuning/jobs/${job.id}/events?limit=100`, KEY_A)).json.data;
    assert.ok(events.some((e: { message: string }) => /resumed by a new worker/.test(e.message)));
  });
});
