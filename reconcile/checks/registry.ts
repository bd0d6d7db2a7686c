import { CHECK_NAMES, type CheckName } from '../../core/index.js';
import type { Check } from './check.js';
import { outboxVsConsumed } from './outbox-vs-consumed.js';
import { usersVsPoints } from './users-vs-points.js';

/** Every check by name. */
export const CHECKS: Readonly<Record<CheckName, Check>> = {
  'users-vs-points': usersVsPoints,
  'outbox-vs-consumed': outboxVsConsumed,
};

/** The checks that read topics and consumer groups when a run gives them topic evidence. */
export const CHECK_NAMES_WITH_TOPIC_EVIDENCE: readonly CheckName[] = [CHECK_NAMES.outboxVsConsumed];
