import { InvalidArgumentError } from 'commander';
import { userInfo } from 'node:os';
import { createLogger, ISO_INSTANT_HINT, loadConfig, parseIsoInstant, type Config, type Logger } from '../core/index.js';

export interface CommandContext {
  config: Config;
  log: Logger;
}

/** Load and validate configuration once, then build what every command needs. */
export function commandContext(): CommandContext {
  const config = loadConfig();
  return { config, log: createLogger(config) };
}

/** commander argument parser for a whole number in `[min, max]`. */
export function intOption(min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number.');
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}.`);
    return n;
  };
}

/** commander argument parser for a positive number (rates). */
export function numberOption(min = 0, max = Number.MAX_VALUE) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('must be a number.');
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}.`);
    return n;
  };
}

/** commander argument parser for a probability in [0, 1]. */
export const probabilityOption = numberOption(0, 1);

/** commander argument parser for an ISO-8601 instant. */
export function isoOption(value: string): Date {
  const at = parseIsoInstant(value);
  if (!at) throw new InvalidArgumentError(`${ISO_INSTANT_HINT}.`);
  return at;
}

/** Print a table of rows (objects with the same keys) to stdout. */
export function printTable(rows: Record<string, unknown>[], out: NodeJS.WritableStream = process.stdout): void {
  if (rows.length === 0) {
    out.write('(nothing)\n');
    return;
  }
  const keys = Object.keys(rows[0]!);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- rows hold scalars and dates (the commands build them)
  const cell = (v: unknown) => (v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : String(v));
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => cell(r[k]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd() + '\n';
  out.write(line(keys));
  out.write(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) out.write(line(keys.map((k) => cell(r[k]))));
}

/**
 * An abort signal for one-shot commands: SIGINT or SIGTERM aborts it, so the
 * command stops at a safe point instead of dying mid-write. `dispose()` removes
 * the handlers.
 */
export function abortOnSignal(): { signal: AbortSignal; dispose(): void } {
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: abort.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Resolve on the first SIGTERM or SIGINT: how long-running commands wait to drain and exit. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

/** Who runs this command, for the audit trail of decisions: the operating-system user. */
export function osActor(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    // No passwd entry for the uid (some containers).
    return 'unknown';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** commander argument parser for a run id (a UUID). */
export function runIdOption(value: string): string {
  if (!UUID.test(value)) throw new InvalidArgumentError('must be a run id (a UUID).');
  return value.toLowerCase();
}
