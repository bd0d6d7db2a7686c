import { describe, expect, it } from 'vitest';
import { ConfigError, configEnv, connectDatabaseUrls, loadConfig, namespaced, writerDatabaseUrls } from '../../core/index.js';

describe('loadConfig', () => {
  it('applies the defaults of DESIGN.md to an empty environment', () => {
    const c = loadConfig({});
    expect(c.databases).toEqual({
      users: 'postgres://127.0.0.1:5432/recon_users',
      points: 'postgres://127.0.0.1:5432/recon_points',
      recon: 'postgres://127.0.0.1:5432/recon_batch',
    });
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(c.namespace).toBeUndefined();
    expect(c.signupBonusPoints).toBe(1000);
    expect(c.windowSeconds).toBe(3600);
    expect(c.graceSeconds).toBe(300);
    expect(c.cron).toBe('0 3 * * *');
    expect(c.timeZone).toBe('UTC');
    expect(c.report.smtpUrl).toBeUndefined();
    expect(c.api).toEqual({ port: 8080, token: undefined, publicUrl: undefined, runsPerMinute: 6 });
    expect(c.consumeHealthPort).toBeUndefined();
  });

  it('parses lists and numbers', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'a:9092, b:9093', SIGNUP_BONUS_POINTS: '250', RECON_START: '2026-01-01T00:00:00Z', REPORT_TO: 'a@x.io, b@y.io' });
    expect(c.kafkaBrokers).toEqual(['a:9092', 'b:9093']);
    expect(c.signupBonusPoints).toBe(250);
    expect(c.start?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(c.report.to).toEqual(['a@x.io', 'b@y.io']);
    expect(loadConfig({ RECON_CONSUME_HEALTH_PORT: '9464' }).consumeHealthPort).toBe(9464);
  });

  it('normalizes RECON_PUBLIC_URL', () => {
    expect(loadConfig({ RECON_PUBLIC_URL: 'HTTPS://Recon.Example.com' }).api.publicUrl).toBe('https://recon.example.com/');
    expect(loadConfig({ RECON_API_RUNS_PER_MINUTE: '30' }).api.runsPerMinute).toBe(30);
  });

  it('reads the relay and Kafka Connect settings', () => {
    const d = loadConfig({});
    expect(d.relay).toBe('polling');
    expect(d.connect).toEqual({ url: 'http://127.0.0.1:8083', databases: {}, slotLagWarnBytes: 1024 ** 3 });
    const c = loadConfig({
      RECON_RELAY: 'debezium',
      KAFKA_CONNECT_URL: 'http://connect.internal:8083/',
      USERS_CONNECT_DATABASE_URL: 'postgres://cdc@db.internal:5432/users',
      RECON_SLOT_LAG_WARN_BYTES: '1000',
    });
    expect(c.relay).toBe('debezium');
    expect(c.connect).toEqual({ url: 'http://connect.internal:8083', databases: { users: 'postgres://cdc@db.internal:5432/users' }, slotLagWarnBytes: 1000 });
    expect(connectDatabaseUrls(c)).toEqual({ users: 'postgres://cdc@db.internal:5432/users', points: c.databases.points });
    // A child process gets the same relay and worker.
    expect(loadConfig(configEnv(c)).connect).toEqual(c.connect);
    expect(loadConfig(configEnv(c)).relay).toBe('debezium');
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ RECON_NAMESPACE: '', RECON_WINDOW_SECONDS: '' }).windowSeconds).toBe(3600);
  });

  it.each([
    ['RECON_WINDOW_SECONDS', 'abc'],
    ['RECON_WINDOW_SECONDS', '0'],
    ['SIGNUP_BONUS_POINTS', '-5'],
    ['KAFKA_BROKERS', 'no-port'],
    ['USERS_DATABASE_URL', 'mysql://x/y'],
    ['REDIS_URL', 'localhost:6379'],
    ['RECON_CRON', 'every night'],
    ['RECON_TZ', 'Mars/Olympus'],
    ['RECON_NAMESPACE', 'has space'],
    ['RECON_API_PORT', '70000'],
    ['RECON_API_TOKEN', 'short'],
    ['RECON_API_READ_TOKEN', 'short'],
    ['RECON_PUBLIC_URL', 'recon.example.com'],
    ['RECON_PUBLIC_URL', 'ftp://recon.example.com'],
    ['RECON_PUBLIC_URL', 'https://user:pass@recon.example.com'],
    ['RECON_API_RUNS_PER_MINUTE', '0'],
    ['RECON_CONSUME_HEALTH_PORT', 'http'],
    ['REPORT_TO', 'not-an-address'],
    ['RECON_START', 'yesterday'],
    ['POINTS_WRITER_DATABASE_URL', 'http://x/y'],
    ['RECON_ROLE_PREFIX', 'Recon-'],
    ['RECON_RELAY', 'kafka-connect'],
    ['KAFKA_CONNECT_URL', '127.0.0.1:8083'],
    ['KAFKA_CONNECT_URL', 'http://127.0.0.1:8083/?x=1'],
    ['USERS_CONNECT_DATABASE_URL', 'http://x/y'],
    ['RECON_SLOT_LAG_WARN_BYTES', '1GB'],
    ['RECON_BENCH_DEBEZIUM_USERS', '0'],
  ])('rejects %s=%s with an error naming the variable', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(name);
    expect((error as Error).message.startsWith(`${name}: `)).toBe(true);
    expect((error as Error).message).not.toContain('\n');
  });

  it('takes a viewer token only beside an operator token, and never the same one', () => {
    const operator = 'operator-token-0123456789';
    const viewer = 'viewer-token-0123456789';
    expect(loadConfig({ RECON_API_TOKEN: operator, RECON_API_READ_TOKEN: viewer }).api).toMatchObject({ token: operator, readToken: viewer });
    expect(loadConfig({ RECON_API_TOKEN: operator }).api.readToken).toBeUndefined();
    expect(() => loadConfig({ RECON_API_READ_TOKEN: viewer })).toThrow(/^RECON_API_READ_TOKEN: needs RECON_API_TOKEN/);
    expect(() => loadConfig({ RECON_API_TOKEN: operator, RECON_API_READ_TOKEN: operator })).toThrow(/^RECON_API_READ_TOKEN: must differ from RECON_API_TOKEN/);
  });

  it('prefixes names with the namespace when one is set', () => {
    expect(namespaced(loadConfig({ RECON_NAMESPACE: 'staging' }), 'user.created')).toBe('staging.user.created');
    expect(namespaced(loadConfig({}), 'user.created')).toBe('user.created');
  });

  it('configEnv gives a child process the same connections, namespace and windows', () => {
    const c = loadConfig({
      USERS_DATABASE_URL: 'postgres://u@db1:5432/a',
      POINTS_DATABASE_URL: 'postgres://u@db2:5432/b',
      RECON_DATABASE_URL: 'postgres://u@db3:5432/c',
      REDIS_URL: 'redis://cache:6380',
      KAFKA_BROKERS: 'k1:9092,k2:9092',
      RECON_NAMESPACE: 'staging',
      SIGNUP_BONUS_POINTS: '250',
      RECON_WINDOW_SECONDS: '60',
      RECON_GRACE_SECONDS: '5',
      RECON_START: '2026-01-01T00:00:00Z',
    });
    const again = loadConfig(configEnv(c));
    for (const key of [
      'databases',
      'writerDatabases',
      'rolePrefix',
      'redisUrl',
      'kafkaBrokers',
      'namespace',
      'signupBonusPoints',
      'windowSeconds',
      'graceSeconds',
      'start',
    ] as const) {
      expect(again[key], key).toEqual(c[key]);
    }
  });

  it('writer URLs default to the reader URL of the same database, and travel to a child only when they differ', () => {
    const same = loadConfig({ USERS_DATABASE_URL: 'postgres://r@db1:5432/a', POINTS_DATABASE_URL: 'postgres://r@db2:5432/b' });
    expect(same.writerDatabases).toEqual({});
    expect(writerDatabaseUrls(same)).toEqual({ users: 'postgres://r@db1:5432/a', points: 'postgres://r@db2:5432/b' });
    expect(same.rolePrefix).toBe('recon_');
    expect(configEnv(same)).not.toHaveProperty('USERS_WRITER_DATABASE_URL');
    const split = loadConfig({
      POINTS_DATABASE_URL: 'postgres://r@db2:5432/b',
      POINTS_WRITER_DATABASE_URL: 'postgres://w@db2:5432/b',
      RECON_ROLE_PREFIX: 'prod_',
    });
    expect(writerDatabaseUrls(split)).toEqual({ users: split.databases.users, points: 'postgres://w@db2:5432/b' });
    // A configuration whose databases are replaced (the demo's) keeps following its readers where no writer was set.
    expect(writerDatabaseUrls({ ...split, databases: { ...split.databases, users: 'postgres://r@db9:5432/z' } }).users).toBe('postgres://r@db9:5432/z');
    expect(loadConfig(configEnv(split)).writerDatabases).toEqual(split.writerDatabases);
    expect(loadConfig(configEnv(split)).rolePrefix).toBe('prod_');
  });
});
