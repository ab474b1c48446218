import { createHash } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { z } from '@peftkit/core';
import { type Caller, type JobsOptions, JobService, jobIdOfModel } from '../jobs/service.ts';
import type { ServerContext } from './context.ts';
import { HttpFailure, httpError } from './errors.ts';
import { registerFiles } from './files.ts';
import { readBody } from './respond.ts';

const hyper = z
  .object({
    n_epochs: z.union([z.literal('auto'), z.number().int().min(1).max(50)]).optional(),
    batch_size: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).optional(),
    learning_rate_multiplier: z.union([z.literal('auto'), z.number().gt(0).max(100)]).optional(),
  })
  .optional();

/** OpenAI's create body (unknown fields ignored, as OpenAI clients send extras) plus the `peftkit` object. */
const CreateJobBody = z.object({
  model: z.string().min(1),
  training_file: z.string().min(1),
  validation_file: z.string().min(1).nullish(),
  suffix: z
    .string()
    .max(64)
    .regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" or "-" only')
    .nullish(),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .nullish(),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullish(),
  hyperparameters: hyper,
  method: z
    .object({ type: z.literal('supervised'), supervised: z.object({ hyperparameters: hyper }).optional() })
    .optional(),
  peftkit: z
    .strictObject({
      method: z.string().min(1).max(64).optional(),
      config: z.record(z.string(), z.unknown()).optional(),
      steps: z.number().int().min(1).max(1_000_000).optional(),
      lr: z.number().gt(0).max(10).optional(),
      training: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});

function bearer(c: Context): string | null {
  const match = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
  return match ? (match[1] as string).trim() : null;
}

/** The tenant of a request: a hash of its key (keys are never stored); the admin key sees every tenant. */
export function callerOf(c: Context, ctx: ServerContext, jobs: JobsOptions): Caller {
  const key = bearer(c);
  const admin = ctx.options.adminKey !== undefined && key === ctx.options.adminKey;
  if (!admin && jobs.apiKeys !== undefined && (key === null || !jobs.apiKeys.includes(key))) {
    throw new HttpFailure(
      httpError(401, 'invalid_api_key', 'missing or unknown API key (Authorization: Bearer <key>)'),
    );
  }
  return {
    owner: createHash('sha256')
      .update(key ?? '')
      .digest('hex')
      .slice(0, 16),
    admin,
  };
}

/** `after` and `limit` of OpenAI's cursor pagination. */
export function pageQuery(c: Context, max = 100): { after?: string; limit?: number } {
  const out: { after?: string; limit?: number } = {};
  const after = c.req.query('after');
  if (after) out.after = after;
  const limit = c.req.query('limit');
  if (limit !== undefined) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new HttpFailure(httpError(400, 'invalid_request', `limit must be an integer in [1, ${max}]`, 'limit'));
    out.limit = n;
  }
  return out;
}

const modelMissing = (model: string) =>
  new HttpFailure(httpError(404, 'model_not_found', `the model '${model}' does not exist`, 'model'));

/**
 * Files and fine-tuning routes, and the rules that make fine-tuned models tenant-owned: `model: ft:…` selects the
 * job's adapter, and another tenant's fine-tuned model answers 404 as if it did not exist. Registered before the
 * inference routes, so its middleware runs first.
 */
export function registerJobs(app: Hono, ctx: ServerContext, jobs: JobsOptions): JobService {
  const service = new JobService(jobs);
  const caller = (c: Context) => callerOf(c, ctx, jobs);

  const adapterFor = ctx.adapterFor.bind(ctx);
  ctx.adapterFor = (model, base) => adapterFor(model ? (jobIdOfModel(model)?.adapter ?? model) : model, base);

  const guard = async (c: Context, model: unknown) => {
    if (typeof model !== 'string') return;
    const access = await service.modelAccess(caller(c), model);
    if (access !== null && !access.allowed) throw modelMissing(model);
  };
  for (const path of ['/v1/completions', '/v1/chat/completions', '/v1/classify']) {
    app.post(path, async (c, next) => {
      const text = await c.req.text(); // cached by Hono: the route reads it again
      let body: { model?: unknown } | null = null;
      try {
        body = JSON.parse(text) as { model?: unknown };
      } catch {
        // the route answers invalid_json
      }
      await guard(c, body?.model);
      await next();
    });
  }
  for (const path of ['/generate', '/generate_stream']) {
    app.post(path, async (c, next) => {
      try {
        const body = JSON.parse(await c.req.text()) as { parameters?: { adapter_id?: unknown } };
        await guard(c, body.parameters?.adapter_id);
      } catch (error) {
        if (error instanceof HttpFailure)
          return c.json({ error: error.http.message, error_type: error.http.code }, 404);
      }
      await next();
    });
  }

  app.get('/v1/models/:id{.+}', async (c, next) => {
    const id = c.req.param('id');
    const access = await service.modelAccess(caller(c), id);
    if (access === null) return next();
    if (!access.allowed || access.record === null) throw modelMissing(id);
    const { job } = access.record;
    return c.json({
      id,
      object: 'model',
      created: job.finished_at ?? job.created_at,
      owned_by: job.organization_id,
      root: access.adapter,
      parent: job.model,
    });
  });
  app.get('/v1/models', async (c, next) => {
    await next();
    if (c.res.status !== 200) return;
    const listed = (await c.res.json()) as { object: string; data: { id: string }[] };
    const who = caller(c);
    const mine = (await jobs.store.listJobs()).filter(
      (r) => r.job.status === 'succeeded' && (who.admin || r.owner === who.owner),
    );
    const data = listed.data.filter((m) => jobIdOfModel(m.id) === null);
    for (const { job, adapter } of mine) {
      data.push({
        id: job.fine_tuned_model as string,
        object: 'model',
        created: job.finished_at,
        owned_by: job.organization_id,
        root: adapter,
        parent: job.model,
      } as {
        id: string;
      });
    }
    c.res = new Response(JSON.stringify({ ...listed, data }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  });

  registerFiles(app, service, caller);

  app.post('/v1/fine_tuning/jobs', async (c) => {
    const who = caller(c);
    const body = await readBody(c, CreateJobBody);
    const info = await ctx.info();
    return c.json(await service.createJob(who, body, info.baseModel));
  });
  app.get('/v1/fine_tuning/jobs', async (c) => c.json(await service.listJobs(caller(c), pageQuery(c))));
  app.get('/v1/fine_tuning/jobs/:id', async (c) => c.json(await service.getJob(caller(c), c.req.param('id'))));
  app.post('/v1/fine_tuning/jobs/:id/cancel', async (c) =>
    c.json(await service.stop(caller(c), c.req.param('id'), 'cancel')),
  );
  app.post('/v1/fine_tuning/jobs/:id/pause', async (c) =>
    c.json(await service.stop(caller(c), c.req.param('id'), 'pause')),
  );
  app.post('/v1/fine_tuning/jobs/:id/resume', async (c) => c.json(await service.resume(caller(c), c.req.param('id'))));
  app.get('/v1/fine_tuning/jobs/:id/events', async (c) =>
    c.json(await service.events(caller(c), c.req.param('id'), pageQuery(c))),
  );
  app.get('/v1/fine_tuning/jobs/:id/checkpoints', async (c) =>
    c.json(await service.checkpoints(caller(c), c.req.param('id'), pageQuery(c))),
  );
  return service;
}
