import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_SUBSCRIPTIONS_TEXT, configEnv, formatSubscriptions, loadConfig, parseSubscriptions } from '../../core/index.js';

function configError(value: string): ConfigError {
  try {
    loadConfig({ RECON_SUBSCRIPTIONS: value });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`RECON_SUBSCRIPTIONS=${value} was accepted`);
}

describe('RECON_SUBSCRIPTIONS', () => {
  it('defaults to recon’s two groups with inbox evidence', () => {
    const c = loadConfig({});
    expect(c.subscriptions).toEqual([
      { topic: 'user.created', group: 'point-service', evidence: 'inbox', outboxDb: 'users', consumedDb: 'points' },
      { topic: 'point.granted', group: 'user-service-balances', evidence: 'inbox', outboxDb: 'points', consumedDb: 'users' },
    ]);
    expect(formatSubscriptions(c.subscriptions)).toBe(DEFAULT_SUBSCRIPTIONS_TEXT);
    expect(c.relay).toBe('polling');
    expect(c.clockSkewSeconds).toBe(60);
  });

  it('declares a foreign group with offsets evidence, spaces allowed', () => {
    const c = loadConfig({
      RECON_SUBSCRIPTIONS: 'user.created:point-service:inbox, user.created:mail-service:offsets ,point.granted:user-service-balances:inbox',
    });
    expect(c.subscriptions.map((s) => [s.topic, s.group, s.evidence, s.outboxDb])).toEqual([
      ['user.created', 'point-service', 'inbox', 'users'],
      ['user.created', 'mail-service', 'offsets', 'users'],
      ['point.granted', 'user-service-balances', 'inbox', 'points'],
    ]);
    // A child process started with configEnv sees the same subscriptions.
    expect(loadConfig(configEnv(c)).subscriptions).toEqual(c.subscriptions);
  });

  it.each([
    ['user.deleted:g:inbox', 'unknown topic "user.deleted"'],
    ['user.created:g:ledger', 'evidence "ledger" must be inbox or offsets'],
    ['user.created:g:inbox,point.granted:g:offsets', 'group "g" is listed twice'],
    ['user.created:g', 'entry "user.created:g" must be topic:group:evidence'],
    ['user.created:g:inbox:x', 'must be topic:group:evidence'],
    ['user.created:g:inbox,,point.granted:h:inbox', 'empty entry'],
    ['user.created:bad group:inbox', 'group "bad group" must be'],
    [' , ', 'at least one'],
  ])('rejects %j naming the entry', (value, reason) => {
    const err = configError(value);
    expect(err.variable).toBe('RECON_SUBSCRIPTIONS');
    expect(err.message).toContain('RECON_SUBSCRIPTIONS');
    expect(err.message).toContain(reason);
  });

  it('parses to a reason instead of throwing', () => {
    expect(parseSubscriptions('point.granted:x:offsets')).toEqual([
      { topic: 'point.granted', group: 'x', evidence: 'offsets', outboxDb: 'points', consumedDb: 'users' },
    ]);
    expect(typeof parseSubscriptions('nope')).toBe('string');
  });

  it('validates RECON_RELAY and RECON_CLOCK_SKEW_SECONDS', () => {
    expect(loadConfig({ RECON_RELAY: 'debezium' }).relay).toBe('debezium');
    expect(() => loadConfig({ RECON_RELAY: 'cdc' })).toThrow(/RECON_RELAY/);
    expect(loadConfig({ RECON_CLOCK_SKEW_SECONDS: '5' }).clockSkewSeconds).toBe(5);
    expect(() => loadConfig({ RECON_CLOCK_SKEW_SECONDS: '-1' })).toThrow(/RECON_CLOCK_SKEW_SECONDS/);
  });
});
