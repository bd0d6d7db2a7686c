/** Alerts: what recon tells on-call about (drift, held and failed compensations, failed and stuck runs), delivered by webhook. */
export * from './alerts.js';
export * from './webhooks.js';
export * from './create.js';
