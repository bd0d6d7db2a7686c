/** Retention: the horizon arithmetic and `recon prune`. */
export * from './horizon.js';
export * from './execute.js';
