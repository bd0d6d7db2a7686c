/**
 * Security headers on every answer of `recon serve`: API, dashboard,
 * bull-board, redirects, errors and 404s. Set in the first `onRequest` hook
 * (fastify keeps them through the error handler) and by the handler of
 * malformed URLs, which runs before any hook.
 *
 * The Content-Security-Policy is as strict as each page allows:
 * - everything: nothing loads but from this server (`default-src 'none'`,
 *   scripts, styles, images, fonts, fetches from `'self'`), no framing, no
 *   `<base>`, forms post only here;
 * - the dashboard: its one `<style>` element by hash (it has no script);
 * - the console's pages: the strict policy as it is (their look comes from
 *   `/console.css`; no inline style, not even an attribute);
 * - a run's report shown in the console (`/runs/:id/report`): the e-mail's
 *   HTML, whose inline styles mail clients need, so `style-src
 *   'unsafe-inline'`, but `sandbox` (no script runs, whatever the page holds)
 *   and nothing else loads;
 * - bull-board (under `/admin/queues`): inline styles (its React UI sets
 *   style attributes), its own `<base href>`, and the IBM Plex fonts it
 *   links from Google Fonts.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DASHBOARD_STYLE_HASH } from './dashboard.js';
import { QUEUES_PATH } from './routes/queues.js';

type Directives = Record<string, string>;

const STRICT: Directives = {
  'default-src': "'none'",
  'script-src': "'self'",
  'style-src': "'self'",
  'img-src': "'self' data:",
  'font-src': "'self'",
  'connect-src': "'self'",
  'frame-ancestors': "'none'",
  'base-uri': "'none'",
  'form-action': "'self'",
};

const DASHBOARD: Directives = { ...STRICT, 'style-src': `'self' '${DASHBOARD_STYLE_HASH}'` };

const REPORT: Directives = { ...STRICT, 'script-src': "'none'", 'style-src': "'unsafe-inline'", 'img-src': 'data:', sandbox: '' };

const QUEUES: Directives = {
  ...STRICT,
  'style-src': "'self' 'unsafe-inline' https://fonts.googleapis.com",
  'font-src': "'self' https://fonts.gstatic.com",
  'base-uri': "'self'",
};

const policy = (d: Directives) =>
  Object.entries(d)
    .map(([k, v]) => (v ? `${k} ${v}` : k))
    .join('; ');

/** The Content-Security-Policy of each kind of page. */
export const CONTENT_SECURITY_POLICIES = { strict: policy(STRICT), dashboard: policy(DASHBOARD), report: policy(REPORT), queues: policy(QUEUES) } as const;

/** The route of a run's report page in the console. */
export const REPORT_PAGE_ROUTE = '/runs/:id/report';

/** Which policy an answer gets, by the route the request matched (`undefined`: no route, a 404). */
export function policyFor(route: string | undefined): keyof typeof CONTENT_SECURITY_POLICIES {
  if (route === '/') return 'dashboard';
  if (route === REPORT_PAGE_ROUTE) return 'report';
  if (route === QUEUES_PATH || route?.startsWith(`${QUEUES_PATH}/`)) return 'queues';
  return 'strict';
}

/**
 * Set the security headers on `reply`. `secure`: the server is reached over
 * TLS (its own, or `RECON_PUBLIC_URL=https://…` behind a proxy): browsers are
 * then told to stay on https (HSTS).
 */
export function setSecurityHeaders(req: FastifyRequest, reply: FastifyReply, { secure }: { secure: boolean }): void {
  reply.header('content-security-policy', CONTENT_SECURITY_POLICIES[policyFor(req.routeOptions?.url)]);
  reply.header('x-frame-options', 'DENY');
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-opener-policy', 'same-origin');
  reply.header('cross-origin-resource-policy', 'same-origin');
  // Answers carry run data and are per user: no shared cache keeps them (static files set their own).
  reply.header('cache-control', 'no-store');
  if (secure) reply.header('strict-transport-security', 'max-age=31536000');
}
