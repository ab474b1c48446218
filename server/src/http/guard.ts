/**
 * Browser-facing defences (D3). A web page can make a browser send simple requests (text/plain POSTs) to a local
 * server (CSRF) or reach it under the attacker's own domain name (DNS rebinding). So every non-probe route
 * requires JSON bodies, an allowed `Host` and, when a browser sends one, an allowed `Origin`; CORS is off unless asked.
 */
import { localPath } from './local-path.ts';
import type { Context, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { httpError } from './errors.ts';
import type { ErrorStyle } from './respond.ts';
import { sendError } from './respond.ts';

export interface GuardOptions {
  /** Extra `Host` names accepted besides localhost and IP literals; '*' accepts any (behind a trusted proxy). */
  allowedHosts: readonly string[];
  /** Extra origins (`https://app.example.com`) accepted besides loopback ones and the server's own; '*' any. */
  allowedOrigins: readonly string[];
  /** Answer CORS preflights and add CORS headers for the allowed origins (default off). */
  cors: boolean;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The host name of a `Host` header value (`[::1]:8000` → `[::1]`, `a.b:80` → `a.b`), lower-cased. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.split(':')[0] as string;
}

const isLoopbackName = (name: string) =>
  name === 'localhost' || name.endsWith('.localhost') || name === '[::1]' || /^127\./.test(name);
// DNS rebinding always arrives with the attacker's domain name in Host, never with an IP literal.
const isIpLiteral = (name: string) => IPV4.test(name) || (name.startsWith('[') && name.endsWith(']'));

export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (host === undefined || host === '') return true; // not a browser (HTTP/1.1 browsers always send Host)
  if (allowed.includes('*')) return true;
  const name = hostName(host);
  return isLoopbackName(name) || isIpLiteral(name) || allowed.some((a) => hostName(a) === name);
}

export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: readonly string[],
): boolean {
  if (origin === undefined) return true; // SDKs and curl send none; browsers send one on every cross-site POST
  if (allowed.includes('*')) return true;
  if (allowed.includes(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // 'null' (sandboxed frames, file://) and garbage
  }
  if (isLoopbackName(url.hostname.toLowerCase())) return true; // WHATWG URL keeps IPv6 brackets: [::1]
  return host !== undefined && url.host.toLowerCase() === host.trim().toLowerCase(); // same origin
}

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/** True when a request carries a body whose type is not JSON (bodies without a content type count as not JSON). */
function nonJsonBody(c: Context): boolean {
  const method = c.req.method;
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return false;
  const type = c.req.header('content-type');
  // OpenAI's file uploads are multipart; the Origin check still keeps other sites' forms out.
  if (type !== undefined)
    return !(JSON_TYPE.test(type) || (localPath(c).startsWith('/v1/files') && /^multipart\/form-data/i.test(type)));
  const length = c.req.header('content-length');
  return (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
}

/** Host, Origin and content-type checks for every route except the probes; `style` picks the error shape. */
export function guard(
  options: GuardOptions,
  skip: (path: string) => boolean,
  style: (path: string) => ErrorStyle,
): MiddlewareHandler {
  return async (c, next) => {
    const path = localPath(c);
    if (skip(path)) return next();
    const host = c.req.header('host');
    if (!hostAllowed(host, options.allowedHosts)) {
      return sendError(
        c,
        httpError(403, 'forbidden_host', 'this Host is not allowed (see --allowed-hosts)'),
        style(path),
      );
    }
    if (!originAllowed(c.req.header('origin'), host, options.allowedOrigins)) {
      return sendError(
        c,
        httpError(403, 'forbidden_origin', 'requests from this Origin are not allowed (see --allowed-origins)'),
        style(path),
      );
    }
    if (nonJsonBody(c)) {
      return sendError(
        c,
        httpError(415, 'unsupported_media_type', 'request bodies must be JSON (content-type: application/json)'),
        style(path),
      );
    }
    return next();
  };
}

/** CORS for the allowed origins only, when enabled; preflights get 204 with the headers clients send. */
export function corsFor(options: GuardOptions): MiddlewareHandler {
  return cors({
    origin: (origin, c) => (originAllowed(origin, c.req.header('host'), options.allowedOrigins) ? origin : null),
    allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowHeaders: ['authorization', 'content-type', 'x-request-id'],
    exposeHeaders: ['x-peftkit-adapter-version', 'x-request-id', 'retry-after'],
    maxAge: 600,
  });
}
