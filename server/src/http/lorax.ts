import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { FinishReason, GenerateJob, GenerateOutput } from '../engine/types.ts';
import type { ServerContext } from './context.ts';
import { HttpFailure, httpError, toHttpError } from './errors.ts';
import { liveGeneration, streamVersionHeader } from './live.ts';
import { errorResponse, readBody } from './respond.ts';
import { LoraxBody } from './schemas.ts';

/** LoRAX's merge strategies (PEFT's add_weighted_adapter names). */
const LORAX_STRATEGIES = ['linear', 'ties', 'dare_linear', 'dare_ties'] as const;
const isLoraxStrategy = (s: string): s is (typeof LORAX_STRATEGIES)[number] =>
  (LORAX_STRATEGIES as readonly string[]).includes(s);

const tgiFinish = (reason: FinishReason) =>
  reason === 'eos' ? 'eos_token' : reason === 'stop' ? 'stop_sequence' : 'length';

function jobFrom(ctx: ServerContext, body: LoraxBody, base: string): GenerateJob {
  const p = body.parameters ?? {};
  const sample = p.do_sample === true;
  const job: GenerateJob = {
    prompt: body.inputs,
    adapter: ctx.adapterFor(p.adapter_id, base),
    params: {
      maxTokens: p.max_new_tokens ?? 20,
      temperature: sample ? (p.temperature ?? 1) : 0,
      topK: sample ? (p.top_k ?? 0) : 0,
      topP: sample ? (p.top_p ?? 1) : 1,
      repetitionPenalty: p.repetition_penalty ?? 1,
      stop: p.stop ?? [],
      ...(p.seed != null ? { seed: p.seed } : {}),
    },
  };
  const merged = p.merged_adapters;
  if (merged) {
    const strategy = merged.merge_strategy ?? 'linear';
    if (!isLoraxStrategy(strategy)) {
      throw new HttpFailure(
        httpError(
          422,
          'unsupported_merge_strategy',
          `merge_strategy '${strategy}' is not supported (supported: ${LORAX_STRATEGIES.join(', ')})`,
          'merge_strategy',
        ),
      );
    }
    if (merged.ids.length !== merged.weights.length) {
      throw new HttpFailure(
        httpError(
          422,
          'invalid_request',
          'merged_adapters.ids and merged_adapters.weights must have the same length',
          'merged_adapters',
        ),
      );
    }
    job.merged = {
      ids: merged.ids,
      weights: merged.weights,
      strategy,
      ...(merged.density != null ? { density: merged.density } : {}),
      ...(merged.majority_sign_method != null ? { majoritySignMethod: merged.majority_sign_method } : {}),
    };
  }
  return job;
}

const details = (out: GenerateOutput, seed: number | null, tokens: boolean) => ({
  finish_reason: tgiFinish(out.finishReason),
  generated_tokens: out.ids.length,
  prompt_tokens: out.promptTokens,
  seed,
  ...(tokens ? { tokens: out.ids.map((id, i) => ({ id, logprob: out.logprobs[i] ?? 0, special: false })) } : {}),
});

/** LoRAX (TGI-shaped) generation with per-request adapters and on-the-fly linear merges. */
export function registerLorax(app: Hono, ctx: ServerContext): void {
  app.post('/generate', async (c) => {
    try {
      const body = await readBody(c, LoraxBody, 'lorax');
      const job = jobFrom(ctx, body, (await ctx.info()).baseModel);
      const out = await ctx.generate(job, { signal: c.req.raw.signal });
      c.header('x-peftkit-adapter-version', out.adapterVersion);
      const result: Record<string, unknown> = { generated_text: out.text };
      if (body.parameters?.details) result.details = details(out, job.params.seed ?? null, true);
      return c.json(result);
    } catch (error) {
      return errorResponse(c, error, 'lorax');
    }
  });

  app.post('/generate_stream', async (c) => {
    let live: ReturnType<typeof liveGeneration>;
    let job: GenerateJob;
    try {
      const body = await readBody(c, LoraxBody, 'lorax');
      job = jobFrom(ctx, body, (await ctx.info()).baseModel);
      live = liveGeneration(ctx, job, c.req.raw.signal);
      await live.started;
      streamVersionHeader(c, live);
    } catch (error) {
      return errorResponse(c, error, 'lorax');
    }
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => live.abort.abort());
      const pending: { id: number; text: string; logprob: number }[] = [];
      let text = '';
      // The last token's event carries generated_text and details, so hold one token back.
      for await (const t of live.tokens) {
        const previous = pending.shift();
        if (previous)
          await stream.writeSSE({
            data: JSON.stringify({ token: { ...previous, special: false }, generated_text: null, details: null }),
          });
        pending.push(t);
        text += t.text;
      }
      try {
        const out = await live.result;
        const last = pending.shift() ?? { id: 0, text: '', logprob: 0 };
        await stream.writeSSE({
          data: JSON.stringify({
            token: { ...last, special: false },
            generated_text: out.text,
            details: details(out, job.params.seed ?? null, false),
          }),
        });
      } catch (error) {
        const e = error instanceof HttpFailure ? error.http : toHttpError(error);
        await stream.writeSSE({ data: JSON.stringify({ error: e.message, error_type: e.code, generated_text: text }) });
      }
    });
  });
}
