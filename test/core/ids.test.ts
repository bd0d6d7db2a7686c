import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { discrepancyId, grantEntryId, isUuid, ledgerStateDiscriminator, regrantEntryId, revocationEntryId, uuidv5 } from '../../core/index.js';

describe('uuidv5', () => {
  it('matches the RFC test vector (DNS namespace, www.example.com)', () => {
    expect(uuidv5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('hashes names in UTF-8, whatever their characters', () => {
    const ns = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
    for (const name of ['', 'ledger:ünïcødé:signup_bonus', 'a'.repeat(1000), '𝒳 ☃ 日本']) {
      const h = createHash('sha1')
        .update(Buffer.from(ns.replaceAll('-', ''), 'hex'))
        .update(name, 'utf8')
        .digest();
      h[6] = (h[6]! & 0x0f) | 0x50;
      h[8] = (h[8]! & 0x3f) | 0x80;
      const hex = h.subarray(0, 16).toString('hex');
      expect(uuidv5(name, ns)).toBe(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`);
    }
  });

  it('derives the same grant id for the same user and different ids for different users', () => {
    const a = '2f0b7a43-8d65-4a8e-9c1d-3e9b1d1f7a10';
    const b = '9a7c1f1e-2d1b-4c2a-8f8e-5b6d7c8e9f00';
    expect(grantEntryId(a)).toBe(grantEntryId(a));
    expect(grantEntryId(a)).not.toBe(grantEntryId(b));
    expect(isUuid(grantEntryId(a))).toBe(true);
    expect(revocationEntryId(a, '1000')).not.toBe(grantEntryId(a));
  });

  it('keys revocations and re-grants on the state of the user ledger, apart from each other and from the grant', () => {
    const a = '2f0b7a43-8d65-4a8e-9c1d-3e9b1d1f7a10';
    const at2 = ledgerStateDiscriminator(2);
    expect(revocationEntryId(a, at2)).toBe(revocationEntryId(a, ledgerStateDiscriminator(2)));
    expect(revocationEntryId(a, at2)).not.toBe(revocationEntryId(a, ledgerStateDiscriminator(3)));
    expect(new Set([grantEntryId(a), revocationEntryId(a, at2), regrantEntryId(a, at2), regrantEntryId(a, ledgerStateDiscriminator(3))]).size).toBe(4);
  });

  it('keys discrepancies by check, kind and entity', () => {
    expect(discrepancyId('users-vs-points', 'missing_grant', 'u1')).toBe(discrepancyId('users-vs-points', 'missing_grant', 'u1'));
    expect(discrepancyId('users-vs-points', 'missing_grant', 'u1')).not.toBe(discrepancyId('users-vs-points', 'orphan_grant', 'u1'));
  });
});
