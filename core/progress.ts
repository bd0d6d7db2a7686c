/**
 * Progress for long work: a bar redrawn in place on a terminal, a periodic
 * plain line elsewhere (CI logs, pipes). Always on stderr, with rate and ETA.
 */
export interface ProgressOptions {
  /** What is being counted, e.g. "users". */
  label: string;
  /** Expected total; omit when unknown (no ETA then). */
  total?: number;
  /** Where to draw. Default `process.stderr`. */
  stream?: NodeJS.WriteStream;
  /** Milliseconds between plain lines when not a terminal. Default 5000. */
  lineIntervalMs?: number;
  /** Draw nothing (tests, --json). Default false. */
  silent?: boolean;
}

export class Progress {
  private done = 0;
  private readonly started = Date.now();
  private lastDraw = 0;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private extra = '';

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
  }

  /** Add `n` to the count and redraw when it is time. `extra` is appended to the line (e.g. "injected 12 rollbacks"). */
  tick(n = 1, extra?: string): void {
    this.done += n;
    if (extra !== undefined) this.extra = extra;
    const now = Date.now();
    const interval = this.tty ? 100 : (this.options.lineIntervalMs ?? 5000);
    if (now - this.lastDraw >= interval) this.draw(now);
  }

  set(done: number, extra?: string): void {
    this.tick(done - this.done, extra);
  }

  /** Draw the final state and end the line. */
  finish(extra?: string): void {
    if (extra !== undefined) this.extra = extra;
    this.draw(Date.now(), true);
  }

  line(now = Date.now()): string {
    const { label, total } = this.options;
    const secs = Math.max((now - this.started) / 1000, 0.001);
    const rate = this.done / secs;
    const parts: string[] = [];
    if (total !== undefined && total > 0) {
      const frac = Math.min(1, this.done / total);
      const width = 24;
      const filled = Math.round(frac * width);
      parts.push(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${total} ${label} (${(frac * 100).toFixed(0)}%)`);
      const eta = rate > 0 ? (total - this.done) / rate : Infinity;
      parts.push(`${formatRate(rate)}/s`, `ETA ${Number.isFinite(eta) ? formatDuration(eta) : '?'}`);
    } else {
      parts.push(`${this.done} ${label}`, `${formatRate(rate)}/s`);
    }
    parts.push(`elapsed ${formatDuration(secs)}`);
    if (this.extra) parts.push(this.extra);
    return parts.join('  ');
  }

  private draw(now: number, final = false): void {
    this.lastDraw = now;
    if (this.options.silent) return;
    if (this.tty) this.stream.write(`\r\x1b[2K${this.line(now)}${final ? '\n' : ''}`);
    else this.stream.write(`${this.line(now)}\n`);
  }
}

function formatRate(r: number): string {
  return r >= 100 ? r.toFixed(0) : r.toFixed(1);
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m < 60 ? `${m}m${String(s).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
