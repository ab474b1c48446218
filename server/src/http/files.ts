import type { Context, Hono } from 'hono';
import type { Caller, JobService } from '../jobs/service.ts';
import { HttpFailure, httpError } from './errors.ts';
import { pageQuery } from './fine-tuning.ts';

/** OpenAI's Files API, for fine-tuning data: multipart upload validated as training will read it, per tenant. */
export function registerFiles(app: Hono, service: JobService, caller: (c: Context) => Caller): void {
  app.post('/v1/files', async (c) => {
    const who = caller(c);
    if (!(c.req.header('content-type') ?? '').toLowerCase().startsWith('multipart/form-data')) {
      throw new HttpFailure(
        httpError(
          400,
          'invalid_request',
          'upload the file as multipart/form-data with fields file and purpose',
          'file',
        ),
      );
    }
    let form: Record<string, unknown>;
    try {
      form = await c.req.parseBody();
    } catch {
      throw new HttpFailure(httpError(400, 'invalid_request', 'the multipart body cannot be parsed', 'file'));
    }
    if (form.purpose !== 'fine-tune') {
      throw new HttpFailure(
        httpError(
          400,
          'invalid_request',
          `purpose must be 'fine-tune' (got '${String(form.purpose ?? '')}')`,
          'purpose',
        ),
      );
    }
    const file = form.file;
    if (!(file instanceof Blob))
      throw new HttpFailure(httpError(400, 'invalid_request', 'the field file must be a file', 'file'));
    const name = (file as File).name || 'upload.jsonl';
    if (file.size > service.maxFileBytes) {
      throw new HttpFailure(
        httpError(
          413,
          'file_too_large',
          `the file has ${file.size} bytes; the limit is ${service.maxFileBytes}`,
          'file',
        ),
      );
    }
    return c.json(await service.createFile(who, name, new Uint8Array(await file.arrayBuffer())));
  });

  app.get('/v1/files', async (c) => {
    const order = c.req.query('order');
    if (order !== undefined && order !== 'asc' && order !== 'desc')
      throw new HttpFailure(httpError(400, 'invalid_request', "order must be 'asc' or 'desc'", 'order'));
    const purpose = c.req.query('purpose');
    const page = await service.listFiles(caller(c), { ...pageQuery(c, 10_000), ...(order ? { order } : {}) });
    // every file here is a fine-tune file: another purpose lists nothing
    return c.json(
      purpose !== undefined && purpose !== 'fine-tune'
        ? { ...page, data: [], has_more: false, first_id: null, last_id: null }
        : page,
    );
  });
  app.get('/v1/files/:id', async (c) => c.json(await service.getFile(caller(c), c.req.param('id'))));
  app.get('/v1/files/:id/content', async (c) => {
    const bytes = await service.fileContent(caller(c), c.req.param('id'));
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/jsonl' });
  });
  app.delete('/v1/files/:id', async (c) => c.json(await service.deleteFile(caller(c), c.req.param('id'))));
}
