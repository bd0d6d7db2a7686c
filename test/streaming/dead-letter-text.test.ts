import { describe, expect, it } from 'vitest';
import { storableText } from '../../db/index.js';

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
