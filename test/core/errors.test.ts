import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ReconError, backoffDelay, describeError, isRetryable, operatorHint } from '../../core/index.js';

describe('isRetryable', () => {
  it('follows the retryable flag of our errors', () => {
    expect(isRetryable(new ReconError('SERVICE_UNAVAILABLE', 'x', { retryable: true }))).toBe(true);
    expect(isRetryable(new ReconError('INVALID_MESSAGE', 'x'))).toBe(false);
  });
  it('knows kafkajs retriable errors and Postgres SQLSTATEs', () => {
    expect(isRetryable(Object.assign(new Error('leader not available'), { retriable: true }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('bad'), { retriable: false }))).toBe(false);
    for (const code of ['40001', '40P01', '57P03']) expect(isRetryable(Object.assign(new Error('pg'), { code }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('unique violation'), { code: '23505' }))).toBe(false);
    expect(isRetryable(Object.assign(new Error('permission denied'), { code: '42501' }))).toBe(false);
    expect(isRetryable(Object.assign(new Error('check violation'), { code: '23514' }))).toBe(false);
    expect(isRetryable(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(true);
  });
  it('knows the transient Postgres conditions of a failover or an overloaded server', () => {
    // read-only transaction (failover), statement timeout, disk full, out of memory, too many connections.
    for (const code of ['25006', '57014', '53100', '53200', '53300']) {
      expect(isRetryable(Object.assign(new Error(`pg ${code}`), { code })), code).toBe(true);
      expect(isRetryable(new Error('wrapped', { cause: Object.assign(new Error(`pg ${code}`), { code }) })), `${code} as a cause`).toBe(true);
    }
  });
  it('judges a kafkajs client that ran out of its own retries by the error it gave up on', () => {
    // The broker was down longer than the client's retry schedule: a later retry may succeed.
    const refused = new kafkajs.KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
    const gaveUp = new kafkajs.KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 8, retryTime: 30_000 });
    expect(gaveUp.retriable).toBe(false);
    expect(isRetryable(gaveUp)).toBe(true);
    // Wrapping an error no retry can fix stays permanent.
    const tooLarge = new kafkajs.KafkaJSProtocolError(Object.assign(new Error('message too large'), { type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false }));
    expect(isRetryable(new kafkajs.KafkaJSNumberOfRetriesExceeded(tooLarge, { retryCount: 0, retryTime: 0 }))).toBe(false);
    expect(isRetryable(new kafkajs.KafkaJSNonRetriableError(refused))).toBe(false);
  });
  it('looks through causes and never throws', () => {
    expect(isRetryable(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: '40P01' }) }))).toBe(true);
    expect(isRetryable(null)).toBe(false);
    expect(isRetryable('string')).toBe(false);
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('boom');
        },
      },
    );
    expect(isRetryable(hostile)).toBe(false);
    expect(describeError(hostile).errorClass).toBeTypeOf('string');
  });
});

describe('backoffDelay', () => {
  it('grows exponentially, stays under the cap, and is jittered', () => {
    expect(backoffDelay(0, 100, 1000, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, 1000, () => 1)).toBe(800);
    expect(backoffDelay(10, 100, 1000, () => 1)).toBe(1000);
    expect(backoffDelay(3, 100, 1000, () => 0.5)).toBe(400);
    expect(backoffDelay(3, 100, 1000, () => 0)).toBe(0);
  });
});

describe('operatorHint', () => {
  it('names the next step for well-known causes, looking through causes', () => {
    const missingDb = Object.assign(new Error('database "x" does not exist'), { code: '3D000' });
    expect(operatorHint(new ReconError('RUN_FAILED', 'run failed', { cause: missingDb }))).toContain('`recon migrate` creates missing databases');
    expect(operatorHint(Object.assign(new Error('relation "users" does not exist'), { code: '42P01' }))).toBe('a table is missing: run `recon migrate`');
    expect(operatorHint(Object.assign(new Error('refused'), { code: 'ECONNREFUSED', address: '127.0.0.1', port: 5499 }))).toMatch(
      /^nothing listens at 127\.0\.0\.1:5499/,
    );
    expect(operatorHint(new ReconError('MISSING_PRIVILEGE', 'role "r" cannot see other sessions'))).toContain('`recon migrate --print-grants`');
    expect(operatorHint(Object.assign(new Error('permission denied for table point_ledger'), { code: '42501' }))).toContain('`recon migrate --roles`');
  });
  it('gives none for anything else, and never loops', () => {
    expect(operatorHint(new Error('boom'))).toBeUndefined();
    expect(operatorHint(Object.assign(new Error('unique violation'), { code: '23505' }))).toBeUndefined();
    const selfish = new Error('self');
    Object.assign(selfish, { cause: selfish });
    expect(operatorHint(selfish)).toBeUndefined();
    expect(operatorHint(null)).toBeUndefined();
  });
});
