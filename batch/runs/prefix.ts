/**
 * The watermark of a distributed run: windows complete in any order on any
 * worker, and the watermark may pass only over the contiguous prefix of
 * completed windows. Pure, so it is tested without databases.
 */

/** A forward window of a run, as far as the watermark cares. */
export interface PrefixWindow {
  start: Date;
  end: Date;
  completed: boolean;
  /** It had rows committed less than the grace ago: the watermark stays before it, whatever follows. */
  held: boolean;
}

/**
 * Where the watermark may move: the end of the longest run of completed,
 * not held windows that starts at the watermark (at the first window when
 * there is none yet) and has no gap. Null when it may not move. Windows
 * ending at or before the watermark are behind it and ignored.
 */
export function contiguousPrefixEnd(windows: readonly PrefixWindow[], watermark: Date | null): Date | null {
  const sorted = [...windows].filter((w) => watermark === null || w.end.getTime() > watermark.getTime()).sort((a, b) => a.start.getTime() - b.start.getTime());
  let cursor = watermark?.getTime() ?? sorted[0]?.start.getTime();
  let end: Date | null = null;
  for (const w of sorted) {
    if (cursor === undefined || w.start.getTime() > cursor) break;
    if (!w.completed || w.held) break;
    end = w.end;
    cursor = w.end.getTime();
  }
  return end;
}

/** Cut planned windows into jobs of at most `size` consecutive windows each. */
export function batchWindows<T>(windows: readonly T[], size: number): T[][] {
  if (!(size >= 1)) throw new Error(`batch size must be at least 1 (got ${size})`);
  const out: T[][] = [];
  for (let i = 0; i < windows.length; i += size) out.push(windows.slice(i, i + size));
  return out;
}
