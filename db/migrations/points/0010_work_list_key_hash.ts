/**
 * The points work list's per-key index becomes a hash of the key, as the
 * users one: see the users migration of the same name for why.
 */
export { up, down } from '../users/0010_work_list_key_hash.js';
