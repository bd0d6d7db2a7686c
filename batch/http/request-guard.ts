/**
 * Refusals that come before authentication, as an `onRequest` hook.
 *
 * - Without `RECON_API_TOKEN` the server trusts whoever reaches it, so it must
 *   be reached only from this machine, and not by a web page either. It
 *   listens on loopback, and answers only requests whose `Host` is a loopback
 *   name: a page of `evil.example` whose name was re-bound to 127.0.0.1 (DNS
 *   rebinding) sends `Host: evil.example` and is refused.
 * - In both modes, a state-changing request (POST, PUT, PATCH, DELETE) from a
 *   browser must come from the server's own pages: its `Origin` must be the
 *   server's (or `RECON_PUBLIC_URL`'s), and `Sec-Fetch-Site`, when sent, must
 *   be `same-origin` or `none`. A cross-site `fetch(…, {mode: 'no-cors'})` or
 *   form post is refused even though it carries the session cookie. Clients
 *   that are not browsers (curl) send neither header and pass.
 *
 * Refusals close the connection: the body of a refused request is never read.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Names of this machine a browser on it uses to reach a loopback-only server. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '[::1]'];

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The host name of a `Host` header, lower case, without its port; `undefined` when it is not `name[:port]`. */
export function hostName(host: string | undefined): string | undefined {
  const m = host === undefined ? null : /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(host.trim());
  return m ? m[1]!.toLowerCase() : undefined;
}

export interface RequestGuardOptions {
  /** Refuse requests whose `Host` is not a loopback name (the no-token mode). */
  loopbackOnly: boolean;
  /** `RECON_PUBLIC_URL`: its origin is the server's own too (a proxy in front may change the Host). */
  publicUrl: string | undefined;
}

/** Why a state-changing request comes from another site, or `undefined` when it does not. */
export function crossSiteProblem(req: FastifyRequest, publicUrl: string | undefined): string | undefined {
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const own = new Set([`${req.protocol}://${req.headers.host ?? ''}`.toLowerCase()]);
    if (publicUrl) own.add(new URL(publicUrl).origin);
    if (!own.has(origin.toLowerCase())) return `Origin ${origin} is not this server's`;
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site is ${site}`;
  return undefined;
}

function refuse(reply: FastifyReply, message: string) {
  return reply.code(403).header('connection', 'close').send({ error: 'forbidden', message });
}

export function registerRequestGuard(app: FastifyInstance, { loopbackOnly, publicUrl }: RequestGuardOptions): void {
  app.addHook('onRequest', async (req, reply) => {
    if (loopbackOnly) {
      const name = hostName(req.headers.host);
      if (name === undefined || !LOOPBACK_HOSTS.includes(name)) {
        return refuse(
          reply,
          `Host ${JSON.stringify(req.headers.host ?? '')} is not a loopback name: without RECON_API_TOKEN, use ${LOOPBACK_HOSTS.join(', ')}`,
        );
      }
    }
    if (STATE_CHANGING.has(req.method)) {
      const problem = crossSiteProblem(req, publicUrl);
      if (problem) return refuse(reply, `${req.method} from another site is refused (${problem})`);
    }
  });
}
