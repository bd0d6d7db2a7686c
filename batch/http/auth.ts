/**
 * Authentication of `recon serve`, as an `onRequest` hook. With
 * `RECON_API_TOKEN` set, every route but the ones marked `public` (only
 * `/healthz`) needs `Authorization: Bearer <token>`. Browsers can instead
 * open any page once with `?token=<token>`: the server opens a session
 * (./sessions.ts) and answers with its cookie (HttpOnly, SameSite=Strict,
 * Max-Age of the session; `Secure` and named `__Host-recon_session` over
 * TLS or when `RECON_PUBLIC_URL` is https), then redirects to the same path
 * of this server without the token. Without a token the server listens on
 * 127.0.0.1 only and lets every local request in (bull-board is then
 * read-only); ./request-guard.ts keeps web pages and other hosts out.
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
import { Sessions } from './sessions.js';

/** Name of the session cookie over plain http. */
export const SESSION_COOKIE = 'recon_session';
/** Name of the session cookie over https: the prefix makes browsers insist on Secure, Path=/ and no Domain. */
export const SECURE_SESSION_COOKIE = '__Host-recon_session';

/** The one credential there is: the rate limits of bearer requests and of the sessions it opened. */
const API_TOKEN = 'api-token';

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

/**
 * Where the login redirect goes: the request's own path without `token`,
 * and only ever a path of this server. Browsers read `\` as `/` and `//x` as
 * another host, so runs of slashes and backslashes become one `/` before the
 * dot segments are resolved; the result starts with exactly one `/`.
 */
export function loginRedirectTarget(rawUrl: string): string {
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
  params.delete('token');
  let path = new URL(rawPath.replace(/[\\/]+/g, '/'), 'http://recon.invalid').pathname;
  if (!path.startsWith('/') || path.startsWith('//')) path = '/';
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

const clients = new WeakMap<FastifyRequest, string>();

/**
 * Who a request is, for rate limits: the credential it authenticated with
 * (bearer token or a session the token opened), or without a token its
 * remote address.
 */
export function clientKey(req: FastifyRequest): string {
  return clients.get(req) ?? `address:${req.ip}`;
}

export interface AuthOptions {
  token: string | undefined;
  /** Lifetime of a browser session, seconds. */
  sessionSeconds: number;
  /** Whether a request reached the server over https (TLS of its own or `RECON_PUBLIC_URL`). */
  isSecure: (req: FastifyRequest) => boolean;
}

/** Require the token on every request but public routes (nothing to do without a token). */
export function registerAuth(app: FastifyInstance, { token, sessionSeconds, isSecure }: AuthOptions): void {
  if (!token) return;
  const expected = digest(token);
  const matches = (presented: unknown) => typeof presented === 'string' && timingSafeEqual(digest(presented), expected);
  const sessions = new Sessions(sessionSeconds);

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.routeOptions.config?.public === true) return;
    const auth = req.headers.authorization;
    const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    if (matches(bearer)) {
      clients.set(req, API_TOKEN);
      return;
    }
    const secure = isSecure(req);
    const cookieName = secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
    const session = sessions.credentialOf(cookieValue(req.headers.cookie, cookieName));
    if (session) {
      clients.set(req, session);
      return;
    }
    const fromQuery = (req.query as Record<string, unknown> | undefined)?.token;
    if (req.method === 'GET' && matches(fromQuery)) {
      const id = sessions.open(API_TOKEN);
      const attributes = `Max-Age=${sessionSeconds}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
      return reply.header('set-cookie', `${cookieName}=${id}; ${attributes}`).redirect(loginRedirectTarget(req.url), 303);
    }
    // Closing the connection: the body of a request we refuse is not worth waiting for.
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="recon"')
      .header('connection', 'close')
      .send({ error: 'unauthorized', message: 'send Authorization: Bearer <RECON_API_TOKEN> (browsers: open any page once with ?token=<RECON_API_TOKEN>)' });
  });
}
