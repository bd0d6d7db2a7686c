import type { CheckName } from '../../core/index.js';
import type { Check } from './check.js';
import { outboxVsConsumed } from './outbox-vs-consumed.js';
import { usersVsPoints } from './users-vs-points.js';

/** Every check by name. */
export const CHECKS: Readonly<Record<CheckName, Check>> = {
  'users-vs-points': usersVsPoints,
  'outbox-vs-consumed': outboxVsConsumed,
};
