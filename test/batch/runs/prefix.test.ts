import { describe, expect, it } from 'vitest';
import { batchWindows, contiguousPrefixEnd, type PrefixWindow } from '../../../batch/index.js';

const H = 3600_000;
const t0 = Date.parse('2026-11-01T00:00:00Z');
const at = (h: number) => new Date(t0 + h * H);
/** Windows 0..n-1 of an hour each; `done` the indexes completed, `held` the ones held. */
function windows(n: number, done: readonly number[], held: readonly number[] = []): PrefixWindow[] {
  return Array.from({ length: n }, (_, i) => ({ start: at(i), end: at(i + 1), completed: done.includes(i), held: held.includes(i) }));
}

describe('the watermark of a distributed run moves over the contiguous prefix of completed windows', () => {
  it('stops before a slow window even when every later one is done', () => {
    // Window 3 is still being compared; 4-9 are in.
    expect(contiguousPrefixEnd(windows(10, [0, 1, 2, 4, 5, 6, 7, 8, 9]), at(0))).toEqual(at(3));
  });

  it('passes over all of them once the slow window completes, in any order', () => {
    expect(contiguousPrefixEnd(windows(10, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]), at(0))).toEqual(at(10));
  });

  it('does not move while the first window is not done', () => {
    expect(contiguousPrefixEnd(windows(10, [1, 2, 3]), at(0))).toBeNull();
  });

  it('starts at the first window when the check has no watermark yet', () => {
    expect(contiguousPrefixEnd(windows(4, [0, 1]), null)).toEqual(at(2));
  });

  it('ignores windows behind the watermark and continues from it', () => {
    // The watermark already passed 0-4 (an earlier commit); 5 and 6 are done now.
    expect(contiguousPrefixEnd(windows(10, [5, 6]), at(5))).toEqual(at(7));
  });

  it('never jumps a gap: a window missing from the plan stops it', () => {
    const ws = windows(6, [0, 1, 2, 3, 4, 5]).filter((_, i) => i !== 2);
    expect(contiguousPrefixEnd(ws, at(0))).toEqual(at(2));
  });

  it('stops before a held window (rows committed less than the grace ago), whatever completes after it', () => {
    expect(contiguousPrefixEnd(windows(6, [0, 1, 2, 3, 4, 5], [2]), at(0))).toEqual(at(2));
    expect(contiguousPrefixEnd(windows(6, [0, 1, 2, 3, 4, 5], [0]), at(0))).toBeNull();
  });

  it('does not depend on the order the windows are listed in', () => {
    const ws = windows(5, [0, 1, 2, 3, 4]).reverse();
    expect(contiguousPrefixEnd(ws, at(0))).toEqual(at(5));
  });
});

describe('window jobs', () => {
  it('carry consecutive windows, the last job the rest', () => {
    expect(batchWindows([1, 2, 3, 4, 5, 6, 7], 3)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(batchWindows([1, 2], 4)).toEqual([[1, 2]]);
    expect(batchWindows([], 4)).toEqual([]);
    expect(() => batchWindows([1], 0)).toThrow(/at least 1/);
  });
});
