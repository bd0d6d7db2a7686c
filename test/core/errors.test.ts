import { describe, expect, it } from 'vitest';
import { ReconError, backoffDelay, describeError, isRetryable } from '../../core/index.js';

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
    expect(isRetryable(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(true);
  });
  it('looks through causes and never throws', () => {
    expect(isRetryable(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: '40P01' }) }))).toBe(true);
    expect(isRetryable(null)).toBe(false);
    expect(isRetryable('string')).toBe(false);
    const hostile = new Proxy({}, { get() { throw new Error('boom'); } });
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
