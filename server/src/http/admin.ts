import type { Hono } from 'hono';
import type { ServerContext } from './context.ts';
import { HttpFailure, httpError } from './errors.ts';
import { parseBody, readBody } from './respond.ts';
import { LoadLoraBody, PutAdapterBody, UnloadLoraBody } from './schemas.ts';

/** vLLM's runtime LoRA management plus peftkit's adapter resource (any method plugin, hot swap on PUT). */
export function registerAdmin(app: Hono, ctx: ServerContext): void {
  app.post('/v1/load_lora_adapter', async (c) => {
    const body = await readBody(c, LoadLoraBody);
    await notBaseName(ctx, body.lora_name);
    await ctx.engine.loadAdapter(body.lora_name, { path: body.lora_path, replace: body.load_inplace ?? false });
    return c.text(`Success: LoRA adapter '${body.lora_name}' added successfully.`, 200);
  });

  app.post('/v1/unload_lora_adapter', async (c) => {
    const body = await readBody(c, UnloadLoraBody);
    await ctx.engine.unloadAdapter(body.lora_name);
    return c.text(`Success: LoRA adapter '${body.lora_name}' removed successfully.`, 200);
  });

  app.get('/v1/adapters', async (c) => {
    const [adapters, info] = await Promise.all([ctx.engine.listAdapters(), ctx.engine.info()]);
    const loaded = new Set(adapters.map((a) => a.name));
    return c.json({
      object: 'list',
      data: adapters.map((a) => ({ object: 'adapter', loaded: true, ...a })),
      available: info.available.filter((n) => !loaded.has(n)),
    });
  });

  app.put('/v1/adapters/:name', async (c) => {
    const name = c.req.param('name');
    await notBaseName(ctx, name);
    const text = await c.req.text();
    const body = text.trim() === '' ? {} : parseBody(text, PutAdapterBody);
    const existed = (await ctx.engine.listAdapters()).some((a) => a.name === name);
    const info = await ctx.engine.loadAdapter(name, { ...body, replace: true });
    return c.json({ object: 'adapter', loaded: true, replaced: existed, ...info }, existed ? 200 : 201);
  });

  app.delete('/v1/adapters/:name', async (c) => {
    const name = c.req.param('name');
    await ctx.engine.unloadAdapter(name);
    return c.json({ object: 'adapter', id: name, deleted: true });
  });
}

/** An adapter named like the base model could never be selected (`model` = that name means the base) (D16). */
async function notBaseName(ctx: ServerContext, name: string): Promise<void> {
  if (name === (await ctx.info()).baseModel) {
    throw new HttpFailure(
      httpError(400, 'adapter_name', `'${name}' is the base model's name; choose another adapter name`, 'lora_name'),
    );
  }
}
