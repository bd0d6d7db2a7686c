/**
 * CSRF protection of the console's forms: a synchronizer token tied to the
 * session. Every form that changes something carries a hidden `_csrf` field,
 * an HMAC (a per-process secret) of the browser's session id; a form POST
 * without it, or with another session's, is refused with 403 before its
 * route runs. The session cookie is SameSite=Strict and ./request-guard.ts
 * refuses foreign `Origin`s already; the token holds even where those do not
 * (an old browser, a proxy that drops `Origin`, a same-site page of another
 * port).
 *
 * Without a session (no token configured: the loopback mode), the token is
 * tied to the process, so a form still needs a page of this server to have
 * been read first. Bearer requests carry no ambient credential and are not
 * forms; the JSON API is protected by its content type (a cross-site page
 * cannot send `application/json` without a CORS preflight, which is never
 * granted) and the Origin check, and keeps working from curl unchanged.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { sessionIdOf } from './auth.js';

/** The form field that carries the token. */
export const CSRF_FIELD = '_csrf';

export class Csrf {
  private readonly secret = randomBytes(32);

  /** The token of the request's session (or of this process, without a session). */
  tokenFor(req: FastifyRequest): string {
    const session = sessionIdOf(req);
    return createHmac('sha256', this.secret)
      .update(session ? `session:${session}` : 'no-session')
      .digest('base64url');
  }

  /** Whether `presented` is the token of `req`'s session. */
  verify(req: FastifyRequest, presented: unknown): boolean {
    if (typeof presented !== 'string' || presented.length === 0) return false;
    const expected = Buffer.from(this.tokenFor(req));
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
