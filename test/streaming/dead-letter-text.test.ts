import { describe, expect, it } from 'vitest';
import { storableText } from '../../db/index.js';
import { capBytes, deadLetterMessage, DLT_HEADER_LIMITS, DLT_HEADERS, type KafkaMessage } from '../../streaming/index.js';

// Root cause: the JSON parse error of a poison message quoted its NUL byte;
// Postgres text rejects NUL, so recording the dead letter failed and the
// partition stalled behind the very message it was meant to park.
describe('storableText', () => {
  it('escapes NUL so Postgres text accepts the error message', () => {
    expect(storableText('Unexpected token \u0000 in JSON', 100)).toBe('Unexpected token \\u0000 in JSON');
  });
  it('bounds the length', () => {
    expect(storableText('x'.repeat(50), 10)).toHaveLength(10);
  });
});

// Root cause: recon's headers (an error message of up to 1,000 characters, so up to 4 KB of UTF-8) could make the DLT
// copy of a message near the topic's size limit too large for the DLT.
describe('the headers recon adds to a dead letter', () => {
  const message = { key: Buffer.from('k'), value: Buffer.from('v'), offset: '7', timestamp: '1700000000000', headers: {}, attributes: 0 } as KafkaMessage;
  it('are bounded in bytes, cut on a character boundary', () => {
    const out = deadLetterMessage({
      topic: 't',
      partition: 0,
      message,
      group: 'g',
      errorClass: 'E'.repeat(1000),
      errorMessage: 'é'.repeat(2000),
      attempts: 1,
    });
    const h = out.message.headers!;
    expect(Buffer.byteLength(h[DLT_HEADERS.errorClass] as string)).toBeLessThanOrEqual(DLT_HEADER_LIMITS.errorClass);
    const text = h[DLT_HEADERS.errorMessage] as string;
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(DLT_HEADER_LIMITS.errorMessage);
    expect(text).toMatch(/^é+…$/);
  });
  it('leave short values alone', () => {
    expect(capBytes('short', 10)).toBe('short');
    expect(capBytes('0123456789', 10)).toBe('0123456789');
    expect(capBytes('0123456789ab', 10)).toBe('0123456…');
    expect(capBytes('😀😀😀', 8)).toBe('😀…');
  });
});
