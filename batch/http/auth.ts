/**
 * Authentication of `recon serve`, as an `onRequest` hook. With
 * `RECON_API_TOKEN` set, every route but the ones marked `public` (only
 * `/healthz`) needs `Authorization: Bearer <token>`. Two tokens, two roles:
 * `RECON_API_TOKEN` is the operator's (reads and acts), `RECON_API_READ_TOKEN`
 * the viewer's (reads everything; every POST, PUT, PATCH or DELETE, of the
 * API, the console and bull-board alike, is a 403). A session remembers the
 * role of the token that opened it. Browsers can instead
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

/** What a request may do: `operator` reads and acts, `viewer` only reads. */
export const ROLES = ['operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** The credentials there are, by role: the rate limits of bearer requests and of the sessions each opened. */
const CREDENTIAL: Record<Role, string> = { operator: 'api-token', viewer: 'read-token' };
const ROLE_OF_CREDENTIAL = new Map<string, Role>(Object.entries(CREDENTIAL).map(([role, c]) => [c, role as Role]));

/** Methods that change something: the viewer gets none of them. */
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

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
const roles = new WeakMap<FastifyRequest, Role>();
const sessionIds = new WeakMap<FastifyRequest, string>();

/**
 * The role of an authenticated request. Without `RECON_API_TOKEN` every
 * (loopback) request is the operator: the mode trusts whoever reaches it.
 */
export function roleOf(req: FastifyRequest): Role {
  return roles.get(req) ?? 'operator';
}

/** The session id a request came with (its cookie), when it was authenticated by one. */
export function sessionIdOf(req: FastifyRequest): string | undefined {
  return sessionIds.get(req);
}

/**
 * Who a request is, for rate limits: the credential it authenticated with
 * (bearer token or a session the token opened), or without a token its
 * remote address.
 */
export function clientKey(req: FastifyRequest): string {
  return clients.get(req) ?? `address:${req.ip}`;
}

export interface AuthOptions {
  /** The operator's token (`RECON_API_TOKEN`). */
  token: string | undefined;
  /** The viewer's token (`RECON_API_READ_TOKEN`). */
  readToken?: string | undefined;
  /** Lifetime of a browser session, seconds. */
  sessionSeconds: number;
  /** Whether a request reached the server over https (TLS of its own or `RECON_PUBLIC_URL`). */
  isSecure: (req: FastifyRequest) => boolean;
}

/** Require the token on every request but public routes (nothing to do without a token). */
export function registerAuth(app: FastifyInstance, { token, readToken, sessionSeconds, isSecure }: AuthOptions): void {
  if (!token) return;
  const expected: [Role, Buffer][] = [['operator', digest(token)]];
  if (readToken) expected.push(['viewer', digest(readToken)]);
  /** The role whose token `presented` is; every token is compared, so the time taken does not tell which matched. */
  const roleOfToken = (presented: unknown): Role | undefined => {
    if (typeof presented !== 'string') return undefined;
    const d = digest(presented);
    let found: Role | undefined;
    for (const [role, e] of expected) if (timingSafeEqual(d, e)) found = role;
    return found;
  };
  const sessions = new Sessions(sessionSeconds);

  /** Let the request in as `role`; a viewer's state-changing request is refused here, before any route runs. */
  const admit = (req: FastifyRequest, reply: FastifyReply, credential: string) => {
    const role = ROLE_OF_CREDENTIAL.get(credential) ?? 'viewer';
    clients.set(req, credential);
    roles.set(req, role);
    if (role === 'viewer' && STATE_CHANGING.has(req.method)) {
      return reply
        .code(403)
        .header('connection', 'close')
        .send({ error: 'forbidden', message: 'the viewer token (RECON_API_READ_TOKEN) reads only: this needs the operator token (RECON_API_TOKEN)' });
    }
    return undefined;
  };

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.routeOptions.config?.public === true) return;
    const auth = req.headers.authorization;
    const bearerRole = roleOfToken(auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined);
    if (bearerRole) return admit(req, reply, CREDENTIAL[bearerRole]);
    const secure = isSecure(req);
    const cookieName = secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
    const sessionId = cookieValue(req.headers.cookie, cookieName);
    const session = sessions.credentialOf(sessionId);
    if (session) {
      sessionIds.set(req, sessionId!);
      return admit(req, reply, session);
    }
    const fromQuery = (req.query as Record<string, unknown> | undefined)?.token;
    const queryRole = req.method === 'GET' ? roleOfToken(fromQuery) : undefined;
    if (queryRole) {
      const id = sessions.open(CREDENTIAL[queryRole]);
      const attributes = `Max-Age=${sessionSeconds}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
      return reply.header('set-cookie', `${cookieName}=${id}; ${attributes}`).redirect(loginRedirectTarget(req.url), 303);
    }
    // Closing the connection: the body of a request we refuse is not worth waiting for.
    return reply.code(401).header('www-authenticate', 'Bearer realm="recon"').header('connection', 'close').send({
      error: 'unauthorized',
      message: 'send Authorization: Bearer <RECON_API_TOKEN or RECON_API_READ_TOKEN> (browsers: open any page once with ?token=<the token>)',
    });
  });
}
