import type { Hono } from 'hono';
import { asModelNotFound, type ServerContext } from './context.ts';
import { readBody } from './respond.ts';
import { ClassifyBody } from './schemas.ts';

/** vLLM-style classification for sequence-classification models and their adapters. */
export function registerClassify(app: Hono, ctx: ServerContext): void {
  app.post('/v1/classify', async (c) => {
    const body = await readBody(c, ClassifyBody);
    const info = await ctx.info();
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    const adapter = ctx.adapterFor(body.model, info.baseModel);
    // The engine decides known / loadable / unknown (→ base or 404) in this one call.
    const out = await ctx.engine
      .classify({ inputs, adapter, unknownAdapter: ctx.unknownAdapter })
      .catch((error: unknown) => {
        throw asModelNotFound(error, adapter);
      });
    c.header('x-peftkit-adapter-version', out.adapterVersion);
    return c.json({
      id: `classify-${Date.now().toString(36)}`,
      object: 'list',
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? info.baseModel,
      data: out.probs.map((probs, index) => {
        const best = probs.indexOf(Math.max(...probs));
        return { index, label: out.labels[best] ?? String(best), probs, num_classes: probs.length };
      }),
      usage: { prompt_tokens: out.promptTokens, total_tokens: out.promptTokens, completion_tokens: 0 },
    });
  });
}
