/** Escaping for server-rendered HTML (reports and dashboard): every interpolated value goes through it. */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- callers interpolate strings, numbers and dates
  return String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** First 8 characters of a UUID: enough to tell runs apart in a table or a subject. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** `2026-11-21 03:00Z`: compact UTC timestamps for tables. */
export function formatInstant(d: Date | string | null | undefined): string {
  if (!d) return '';
  const iso = (d instanceof Date ? d : new Date(d)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
}

/** `3h 12m`, `45s`: a human duration from seconds. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return 'n/a';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}
