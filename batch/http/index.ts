/** `recon serve`: the fastify server, its request schemas, the dashboard and the metrics. */
export * from './server.js';
export * from './types.js';
export { SECURE_SESSION_COOKIE, SESSION_COOKIE, listenHost } from './auth.js';
export { CONTENT_SECURITY_POLICIES } from './security-headers.js';
export * from './schemas.js';
export * from './dashboard.js';
export * from './metrics.js';
