/** Tests listen with the same runtime-native server `peftkit serve` uses (the platform adapters' HttpListener). */
import { type HttpListening, PORTS } from '@peftkit/core';
import { platformScope } from 'peftkit';

export type Listening = HttpListening;

export function listen(
  app: { fetch: (request: Request) => Response | Promise<Response> },
  port = 0,
  hostname = '127.0.0.1',
): Promise<Listening> {
  return platformScope().resolve(PORTS.HttpListener).listen(app.fetch, { port, hostname });
}
