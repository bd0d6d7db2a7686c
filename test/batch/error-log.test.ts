import { afterEach, describe, expect, it, vi } from 'vitest';
import { throttledErrorLog } from '../../batch/index.js';
import type { Logger } from '../../core/index.js';

describe('throttledErrorLog', () => {
  afterEach(() => vi.useRealTimers());

  it('logs each distinct message once per 30 s, with its fields', () => {
    vi.useFakeTimers({ now: new Date('2026-11-22T03:00:00Z') });
    const lines: { level: string; fields: unknown; msg: string }[] = [];
    const log = {
      warn: (fields: unknown, msg: string) => lines.push({ level: 'warn', fields, msg }),
      error: (fields: unknown, msg: string) => lines.push({ level: 'error', fields, msg }),
    } as unknown as Logger;
    const onError = throttledErrorLog(log, 'redis', { queue: 'q' });
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:6390');
    for (let i = 0; i < 20; i++) {
      onError(refused);
      vi.advanceTimersByTime(1000);
    }
    onError(new Error('READONLY You cannot write against a read only replica.'));
    expect(lines).toEqual([
      { level: 'warn', fields: { queue: 'q', err: refused.message }, msg: `redis: ${refused.message}` },
      {
        level: 'warn',
        fields: { queue: 'q', err: 'READONLY You cannot write against a read only replica.' },
        msg: 'redis: READONLY You cannot write against a read only replica.',
      },
    ]);
    vi.advanceTimersByTime(10_000);
    onError(refused);
    expect(lines).toHaveLength(3);
  });
});
