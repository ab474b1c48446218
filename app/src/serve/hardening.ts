/**
 * `peftkit serve` flags for the server's security model and limits (see docs/server.md, "Security model" and
 * "Limits"): browser defences, access log, body and time limits, adapter limits like vLLM's.
 */
import type { ServeSettings } from './options.ts';

/** Boolean flags (no value). */
export const HARDENING_FLAGS = ['cors', 'allow-open-admin', 'access-log'] as const;
/** Options with a value. */
export const HARDENING_OPTIONS = [
  'allowed-hosts',
  'allowed-origins',
  'body-limit-kb',
  'request-timeout-s',
  'max-lora-rank',
  'max-loras',
  'max-adapter-file-mb',
] as const;

export const HARDENING_USAGE =
  '                     [--allowed-hosts h1,h2|*] [--allowed-origins o1,o2|*] [--cors] [--allow-open-admin]\n' +
  `                     [--access-log] [--body-limit-kb N] [--request-timeout-s N]
                     [--max-lora-rank N] [--max-loras N] [--max-adapter-file-mb N]`;

const count = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got '${value}'`);
  return n;
};

const list = (value: string | undefined): string[] | undefined =>
  value === undefined
    ? undefined
    : value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Applies the flags to `settings`; refuses open admin routes on a reachable address without --allow-open-admin. */
export function applyHardening(
  values: ReadonlyMap<string, string>,
  settings: ServeSettings,
  env: Record<string, string | undefined>,
): void {
  const { server, engine } = settings;
  const hosts = list(values.get('allowed-hosts'));
  if (hosts) server.allowedHosts = hosts;
  const origins = list(values.get('allowed-origins'));
  if (origins) server.allowedOrigins = origins;
  if (values.has('cors')) server.cors = true;
  if (values.has('access-log')) server.accessLog = true;
  const bodyKb = count('body-limit-kb', values.get('body-limit-kb'));
  if (bodyKb !== undefined) server.bodyLimitBytes = bodyKb * 1024;
  const timeout = count('request-timeout-s', values.get('request-timeout-s'));
  if (timeout !== undefined) server.requestTimeoutMs = timeout * 1000;
  const rank = count('max-lora-rank', values.get('max-lora-rank'));
  if (rank !== undefined) engine.maxLoraRank = rank;
  const loras = count('max-loras', values.get('max-loras'));
  if (loras !== undefined) engine.maxLoras = loras;
  const fileMb = count('max-adapter-file-mb', values.get('max-adapter-file-mb'));
  if (fileMb !== undefined) engine.maxAdapterFileBytes = Math.min(fileMb * 2 ** 20, 2 ** 31 - 1);
  if (engine.adapterBudgetBytes === 0)
    throw new Error('--adapter-budget-mb must be at least 1 (adapters larger than the budget are refused)');
  // Without PEFTKIT_ADMIN_KEY anyone who reaches the port can load, replace and unload adapters.
  if (!env.PEFTKIT_ADMIN_KEY && !isLoopbackHost(settings.host) && !values.has('allow-open-admin')) {
    throw new Error(
      `refusing to serve open admin routes on ${settings.host}: set PEFTKIT_ADMIN_KEY, ` +
        'listen on 127.0.0.1, or pass --allow-open-admin',
    );
  }
}
