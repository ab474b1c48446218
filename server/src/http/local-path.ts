import type { Context, MiddlewareHandler } from 'hono';

const KEY = 'peftkitLocalPath';

/**
 * Records the request path as this app sees it, without the prefix under which a host app mounted it
 * (`host.route('/peft', serving.app)` keeps the prefix in `c.req.path`). Must be the app's first middleware: its
 * registered route is then `<prefix>/*`. Auth and guards match on the local path, so mounting cannot bypass them.
 */
export function recordLocalPath(): MiddlewareHandler {
  return async (c, next) => {
    const route = c.req.routePath;
    const prefix = route.endsWith('/*') ? route.slice(0, -2) : '';
    const path = c.req.path;
    const local = prefix !== '' && path.startsWith(prefix) ? path.slice(prefix.length) || '/' : path;
    (c as unknown as { set(key: string, value: string): void }).set(KEY, local);
    return next();
  };
}

/** The request path relative to where this app is mounted (see recordLocalPath). */
export function localPath(c: Context): string {
  const local = (c as unknown as { get(key: string): unknown }).get(KEY);
  return typeof local === 'string' ? local : c.req.path;
}
