import type { Context } from 'hono';
import type { z } from '@peftkit/core';
import { type HttpError, HttpFailure, httpError, loraxBody, openAiBody, toHttpError } from './errors.ts';

export type ErrorStyle = 'openai' | 'lorax';

/** Sends an error in the route's style, with Retry-After on 429 / 503, WWW-Authenticate on 401, Allow on 405. */
export function sendError(c: Context, e: HttpError, style: ErrorStyle = 'openai'): Response {
  if (e.retryAfterSeconds !== undefined) c.header('Retry-After', String(e.retryAfterSeconds));
  // RFC 9110: a 401 names its scheme, a 405 the methods the resource has.
  if (e.status === 401) c.header('WWW-Authenticate', 'Bearer realm="peftkit"');
  if (e.allow !== undefined) c.header('Allow', e.allow);
  return c.json(style === 'lorax' ? loraxBody(e) : openAiBody(e), e.status as 400);
}

export function errorResponse(c: Context, error: unknown, style: ErrorStyle = 'openai'): Response {
  return sendError(c, error instanceof HttpFailure ? error.http : toHttpError(error), style);
}

/** Parses the JSON body and validates it; throws HttpFailure (400 / 422 for LoRAX) with the first issue. */
export async function readBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  style: ErrorStyle = 'openai',
): Promise<z.infer<S>> {
  return parseBody(await c.req.text(), schema, style);
}

export function parseBody<S extends z.ZodType>(text: string, schema: S, style: ErrorStyle = 'openai'): z.infer<S> {
  const status = style === 'lorax' ? 422 : 400;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HttpFailure(httpError(status, 'invalid_json', 'the request body is not valid JSON'));
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.map(String).join('.') ?? '';
    throw new HttpFailure(
      httpError(
        status,
        'invalid_request',
        `${path ? `'${path}': ` : ''}${issue?.message ?? 'invalid body'}`,
        path || null,
      ),
    );
  }
  return parsed.data;
}
