/**
 * Held compensations of a run and the decisions taken on them: the
 * blast-radius guard's functions (../compensation/decisions.ts), which the
 * console's pages and buttons use as the CLI and the API do.
 */
export { approveHeld, decisionsForRun, dismissHeld, heldForRun, type Decision, type HeldCount as HeldGroup } from '../compensation/index.js';
