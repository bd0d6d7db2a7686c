/**
 * The points outbox gets the same HOT publication write-back as the users
 * outbox (work list `unpublished_events`, its triggers, fillfactor 50): see
 * the users migration of the same name for why.
 */
export { up, down } from '../users/0009_outbox_hot_publication.js';
