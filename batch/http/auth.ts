/**
 * Authentication of `recon serve`, as an `onRequest` hook. With
 * `RECON_API_TOKEN` set, every route but the ones marked `public` (only
 * `/healthz`) needs `Authorization: Bearer <token>`. Browsers can instead open any page once
 * with `?token=<token>`: the server answers with an HttpOnly, SameSite=Strict
 * cookie and redirects to the same page without the token; the cookie then
 * authenticates the dashboard and bull-board. Without a token the server
 * listens on 127.0.0.1 only and lets every local request in (bull-board is
 * then read-only).
 *
 * Whether a route is public is read from the route the request matched
 * (`req.routeOptions.config`), never from the URL again: a URL parser
 * collapses `..` and turns `\` into `/`, the router does not, so a path such
 * as `/admin/queues/queue/x\..\..\healthz` means two different things to
 * them. A request that matched no route is not public either.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../core/index.js';

export const TOKEN_COOKIE = 'recon_token';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return undefined; // malformed escape: no credential, so a 401 rather than a 500
    }
  }
  return undefined;
}

/** Where the server listens: every interface with a token, loopback only without. */
export function listenHost(config: Pick<Config, 'api'>): string {
  return config.api.token ? '0.0.0.0' : '127.0.0.1';
}

/** Require the token on every request but public routes (nothing to do without a token). */
export function registerAuth(app: FastifyInstance, token: string | undefined): void {
  if (!token) return;
  const expected = digest(token);
  const matches = (presented: string | undefined) => presented !== undefined && timingSafeEqual(digest(presented), expected);
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.routeOptions.config?.public === true) return;
    const auth = req.headers.authorization;
    const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    if (matches(bearer) || matches(cookieValue(req.headers.cookie, TOKEN_COOKIE))) return;
    const url = new URL(req.url, 'http://recon.invalid');
    const fromQuery = url.searchParams.get('token') ?? undefined;
    if (matches(fromQuery) && req.method === 'GET') {
      url.searchParams.delete('token');
      return reply
        .header('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(fromQuery!)}; HttpOnly; SameSite=Strict; Path=/`)
        .redirect(url.pathname + url.search, 303);
    }
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="recon"')
      .send({ error: 'unauthorized', message: 'send Authorization: Bearer <RECON_API_TOKEN> (browsers: open any page once with ?token=<RECON_API_TOKEN>)' });
  });
}
