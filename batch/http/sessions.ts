/**
 * Browser sessions of `recon serve`: opening a page with `?token=<token>`
 * opens one, and its cookie carries a random session id, never the token.
 * A leaked cookie (another service on the same host sees it: cookies are not
 * kept apart by port) gives a session that expires, not the token.
 *
 * Sessions live in this process's memory: a restart logs every browser out,
 * and several `recon serve` processes behind one name do not share them.
 */
import { createHash, randomBytes } from 'node:crypto';

interface Session {
  /** What opened the session: the rate limits of its requests are that credential's. */
  credential: string;
  expiresAt: number;
}

/** Sessions kept at most; beyond, the oldest are dropped (only holders of the token open sessions). */
export const MAX_SESSIONS = 10_000;

export class Sessions {
  /** By the SHA-256 of the id, so the map never holds a usable cookie value. */
  private readonly byDigest = new Map<string, Session>();

  constructor(
    /** Lifetime of a session, seconds. */
    readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session for `credential`; its id goes in the cookie. */
  open(credential: string): string {
    this.prune();
    const id = randomBytes(32).toString('base64url');
    this.byDigest.set(digest(id), { credential, expiresAt: this.now() + this.ttlSeconds * 1000 });
    return id;
  }

  /** The credential behind a live session id, or `undefined` (unknown or expired). */
  credentialOf(id: string | undefined): string | undefined {
    if (!id) return undefined;
    const key = digest(id);
    const session = this.byDigest.get(key);
    if (!session) return undefined;
    if (session.expiresAt <= this.now()) {
      this.byDigest.delete(key);
      return undefined;
    }
    return session.credential;
  }

  get size(): number {
    return this.byDigest.size;
  }

  private prune() {
    if (this.byDigest.size < MAX_SESSIONS) return;
    const now = this.now();
    for (const [key, s] of this.byDigest) if (s.expiresAt <= now) this.byDigest.delete(key);
    // Still full: drop the oldest (a Map iterates in insertion order).
    for (const key of this.byDigest.keys()) {
      if (this.byDigest.size < MAX_SESSIONS) break;
      this.byDigest.delete(key);
    }
  }
}

function digest(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
