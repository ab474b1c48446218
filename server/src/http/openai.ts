import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { FinishReason, GenerateJob, GenerateOutput, SamplingParams } from '../engine/types.ts';
import { renderChat } from './chat.ts';
import type { ServerContext } from './context.ts';
import { HttpFailure, httpError, toHttpError } from './errors.ts';
import { fanOut, liveGeneration, streamVersionHeader } from './live.ts';
import { errorResponse, readBody } from './respond.ts';
import { ChatBody, CompletionBody } from './schemas.ts';

const now = () => Math.floor(Date.now() / 1000);
const newId = (prefix: string) => `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;

export function openAiFinish(reason: FinishReason): 'stop' | 'length' {
  return reason === 'eos' || reason === 'stop' ? 'stop' : 'length';
}

export function samplingFrom(
  body: {
    max_tokens?: number | null | undefined;
    temperature?: number | null | undefined;
    top_p?: number | null | undefined;
    top_k?: number | null | undefined;
    repetition_penalty?: number | null | undefined;
    seed?: number | null | undefined;
    stop?: string | string[] | null | undefined;
  },
  defaultMaxTokens: number,
): SamplingParams {
  return {
    maxTokens: body.max_tokens ?? defaultMaxTokens,
    temperature: body.temperature ?? 1,
    topK: body.top_k === undefined || body.top_k === null || body.top_k < 0 ? 0 : body.top_k,
    topP: body.top_p ?? 1,
    repetitionPenalty: body.repetition_penalty ?? 1,
    stop: typeof body.stop === 'string' ? [body.stop] : (body.stop ?? []),
    // Unseeded: the engine draws a random seed per request (D11).
    ...(body.seed != null ? { seed: body.seed } : {}),
  };
}

const usageOf = (outs: GenerateOutput[]) => {
  const prompt = outs.reduce((n, o) => n + o.promptTokens, 0);
  const completion = outs.reduce((n, o) => n + o.ids.length, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
};

/** Prompts of a completions body: one job prompt per choice. */
function promptsOf(prompt: CompletionBody['prompt']): Pick<GenerateJob, 'prompt' | 'ids'>[] {
  if (typeof prompt === 'string') return [{ prompt }];
  if (prompt.length > 0 && typeof prompt[0] === 'number') return [{ ids: prompt as number[] }];
  return (prompt as (string | number[])[]).map((p) => (typeof p === 'string' ? { prompt: p } : { ids: p }));
}

export function registerOpenAi(app: Hono, ctx: ServerContext): void {
  app.get('/v1/models', async (c) => {
    const [info, adapters] = await Promise.all([ctx.engine.info(), ctx.engine.listAdapters()]);
    const created = now();
    const loaded = new Set(adapters.map((a) => a.name));
    const data = [
      { id: info.baseModel, object: 'model', created, owned_by: 'peftkit', root: info.baseModel, parent: null },
      ...adapters.map((a) => ({
        id: a.name,
        object: 'model',
        created,
        owned_by: 'peftkit',
        root: a.source,
        parent: info.baseModel,
        loaded: true,
        method: a.method,
      })),
      ...info.available
        .filter((name) => !loaded.has(name))
        .map((name) => ({
          id: name,
          object: 'model',
          created,
          owned_by: 'peftkit',
          root: name,
          parent: info.baseModel,
          loaded: false,
        })),
    ];
    return c.json({ object: 'list', data });
  });

  app.get('/v1/models/:id{.+}', async (c) => {
    const id = c.req.param('id');
    const [info, adapters] = await Promise.all([ctx.engine.info(), ctx.engine.listAdapters()]);
    const created = now();
    if (id === info.baseModel)
      return c.json({ id, object: 'model', created, owned_by: 'peftkit', root: id, parent: null });
    const adapter = adapters.find((a) => a.name === id);
    if (adapter || info.available.includes(id)) {
      return c.json({
        id,
        object: 'model',
        created,
        owned_by: 'peftkit',
        root: adapter?.source ?? id,
        parent: info.baseModel,
        loaded: adapter !== undefined,
      });
    }
    return errorResponse(
      c,
      new HttpFailure(httpError(404, 'model_not_found', `the model '${id}' does not exist`, 'model')),
    );
  });

  app.post('/v1/completions', async (c) => {
    const body = await readBody(c, CompletionBody);
    const info = await ctx.info();
    const adapter = ctx.adapterFor(body.model, info.baseModel);
    const params = samplingFrom(body, 16);
    const prompts = promptsOf(body.prompt);
    const model = body.model ?? info.baseModel;
    const id = newId('cmpl');
    const created = now();
    if (!body.stream) {
      // One listener on the request's signal for all prompts (one each warned past 10: MaxListenersExceeded).
      const signals = fanOut(c.req.raw.signal, prompts.length);
      const outs = await Promise.all(
        prompts.map((p, i) => ctx.generate({ ...p, adapter, params }, { signal: signals[i] as AbortSignal })),
      );
      c.header('x-peftkit-adapter-version', outs.map((o) => o.adapterVersion).join(','));
      return c.json({
        id,
        object: 'text_completion',
        created,
        model,
        choices: outs.map((o, index) => ({
          index,
          text: o.text,
          logprobs: null,
          finish_reason: openAiFinish(o.finishReason),
        })),
        usage: usageOf(outs),
      });
    }
    if (prompts.length !== 1)
      throw new HttpFailure(httpError(400, 'invalid_request', 'streaming supports one prompt per request', 'prompt'));
    const live = liveGeneration(ctx, { ...prompts[0], adapter, params }, c.req.raw.signal);
    await live.started;
    streamVersionHeader(c, live);
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => live.abort.abort());
      const chunk = (text: string, finish: string | null, token?: { id: number; text: string; logprob: number }) =>
        JSON.stringify({
          id,
          object: 'text_completion',
          created,
          model,
          choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
          // TGI-style token field: @huggingface/inference's textGenerationStream reads it.
          ...(token ? { token: { ...token, special: false } } : {}),
        });
      for await (const t of live.tokens) await stream.writeSSE({ data: chunk(t.text, null, t) });
      try {
        const out = await live.result;
        await stream.writeSSE({ data: chunk('', openAiFinish(out.finishReason)) });
        if (body.stream_options?.include_usage) {
          await stream.writeSSE({
            data: JSON.stringify({ id, object: 'text_completion', created, model, choices: [], usage: usageOf([out]) }),
          });
        }
      } catch (error) {
        await stream.writeSSE({ data: JSON.stringify(streamError(error)) });
      }
      await stream.writeSSE({ data: '[DONE]' });
    });
  });

  app.post('/v1/chat/completions', async (c) => {
    const body = await readBody(c, ChatBody);
    const info = await ctx.info();
    const adapter = ctx.adapterFor(body.model, info.baseModel);
    const params = samplingFrom({ ...body, max_tokens: body.max_completion_tokens ?? body.max_tokens }, 64);
    let text = renderChat(info.chatTemplate, body.messages, info);
    // The template writes the BOS token as text; add it as an id instead, as the tokenizer would not map it back.
    const addBos = info.bosToken !== null && text.startsWith(info.bosToken);
    if (addBos && info.bosToken) text = text.slice(info.bosToken.length);
    const job: GenerateJob = { prompt: text, addBos, adapter, params };
    const model = body.model ?? info.baseModel;
    const id = newId('chatcmpl');
    const created = now();
    if (!body.stream) {
      const out = await ctx.generate(job, { signal: c.req.raw.signal });
      c.header('x-peftkit-adapter-version', out.adapterVersion);
      return c.json({
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: out.text },
            logprobs: null,
            finish_reason: openAiFinish(out.finishReason),
          },
        ],
        usage: usageOf([out]),
      });
    }
    const live = liveGeneration(ctx, job, c.req.raw.signal);
    await live.started;
    streamVersionHeader(c, live);
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => live.abort.abort());
      const chunk = (delta: Record<string, string>, finish: string | null) =>
        JSON.stringify({
          id,
          object: 'chat.completion.chunk',
          created,
          model,
          choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        });
      await stream.writeSSE({ data: chunk({ role: 'assistant', content: '' }, null) });
      for await (const t of live.tokens)
        if (t.text !== '') await stream.writeSSE({ data: chunk({ content: t.text }, null) });
      try {
        const out = await live.result;
        await stream.writeSSE({ data: chunk({}, openAiFinish(out.finishReason)) });
        if (body.stream_options?.include_usage) {
          await stream.writeSSE({
            data: JSON.stringify({
              id,
              object: 'chat.completion.chunk',
              created,
              model,
              choices: [],
              usage: usageOf([out]),
            }),
          });
        }
      } catch (error) {
        await stream.writeSSE({ data: JSON.stringify(streamError(error)) });
      }
      await stream.writeSSE({ data: '[DONE]' });
    });
  });
}

/** After the 200 status line an error can only travel as an event (OpenAI's streaming error shape). */
function streamError(error: unknown): { error: { message: string; type: string; code: string } } {
  const e = error instanceof HttpFailure ? error.http : toHttpError(error);
  return { error: { message: e.message, type: e.type, code: e.code } };
}
