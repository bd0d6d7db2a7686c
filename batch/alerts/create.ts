import type { Config, Logger } from '../../core/index.js';
import { createWebhookNotifier, type WebhookNotifier } from './webhooks.js';

/** The notifier of `RECON_WEBHOOK_URL` (one that sends nothing when it is unset). */
export function createAlerts(config: Pick<Config, 'alerts'>, log: Logger): WebhookNotifier {
  return createWebhookNotifier({ urls: config.alerts.webhookUrls, log });
}

/** How long a command waits, at most, for its alerts before it exits. */
export const ALERT_FLUSH_MS = 15_000;
