/**
 * Deterministic identifiers. The stream and the batch layer derive the same
 * ids from the same facts, so whichever writes first wins and the other write
 * is a no-op (the convergence principle of DESIGN.md).
 */
import * as crypto from 'node:crypto';

/** Namespace UUID of every recon-derived id (a fixed random v4). */
export const RECON_UUID_NAMESPACE = '6f1d3a52-8c4e-4b8e-9d1a-2f6c0b7e5a91';

const reconNamespaceBytes = Buffer.from(RECON_UUID_NAMESPACE.replaceAll('-', ''), 'hex');

/** RFC 9562 UUIDv5 (SHA-1, name-based) of `name`, by default under the recon namespace. */
export function uuidv5(name: string, namespace?: string): string {
  const ns = namespace ? Buffer.from(namespace.replaceAll('-', ''), 'hex') : reconNamespaceBytes;
  const hash = sha1(ns, name);
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const h = hash.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * One-shot `crypto.hash` (Node 20.12 and later) where there is one: the stream derives two ids per event, and a
 * `createHash` object per id cost about three times as much.
 */
const oneShot = (crypto as { hash?: (algorithm: string, data: Buffer, encoding: 'buffer') => Buffer }).hash;

/** SHA-1 of `prefix` followed by `name` in UTF-8. */
function sha1(prefix: Buffer, name: string): Buffer {
  if (!oneShot) return crypto.createHash('sha1').update(prefix).update(name, 'utf8').digest();
  const data = Buffer.allocUnsafe(prefix.length + Buffer.byteLength(name, 'utf8'));
  prefix.copy(data, 0);
  data.write(name, prefix.length, 'utf8');
  return oneShot('sha1', data, 'buffer');
}

export const LEDGER_REASONS = { grant: 'signup_bonus', revocation: 'signup_bonus_revocation' } as const;

/** Entry id of a user's signup grant: the stream's consumer and the batch's compensation both use it. */
export function grantEntryId(userId: string): string {
  return uuidv5(`ledger:${userId}:${LEDGER_REASONS.grant}`);
}

/**
 * Entry id of a revocation. `discriminator` identifies the step: the
 * compensations use `ledger:<signup entries the user has>`, the state of the
 * user's ledger the revocation is appended to. Two executions that plan on
 * the same state derive the same id, so only one insert has an effect,
 * whatever discrepancy or generation each one was started for; once it is in,
 * the state has changed, and a revocation still needed gets a new id.
 */
export function revocationEntryId(userId: string, discriminator: string): string {
  return uuidv5(`ledger:${userId}:${LEDGER_REASONS.revocation}:${discriminator}`);
}

/**
 * Entry id of a re-grant: the correction that brings a committed user whose
 * signup grant exists but was revoked back to the bonus. Keyed like a
 * revocation, on the state of the user's ledger (`ledger:<signup entries>`),
 * never on the grant's id, which the stream owns.
 */
export function regrantEntryId(userId: string, discriminator: string): string {
  return uuidv5(`ledger:${userId}:${LEDGER_REASONS.grant}:regrant:${discriminator}`);
}

/** The discriminator of a revocation or re-grant appended to a user ledger holding `entries` signup entries. */
export function ledgerStateDiscriminator(entries: number): string {
  return `ledger:${entries}`;
}

/** Event id of the `point.granted` event announcing a ledger entry. */
export function pointGrantedEventId(entryId: string): string {
  return uuidv5(`event:point.granted:${entryId}`);
}

/** Id of a discrepancy: the same (check, kind, entity) always maps to the same row. */
export function discrepancyId(check: string, kind: string, entity: string): string {
  return uuidv5(`discrepancy:${check}:${kind}:${entity}`);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}
