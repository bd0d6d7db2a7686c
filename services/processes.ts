/**
 * What the local services (broker, cluster nodes, Connect worker) share: the
 * project folder their files live under, whether a command is installed, the
 * live pid behind a pid file, and the tail of a log.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project folder (the nearest with a package.json), whether this runs from services/ or compiled into dist/services/. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * The pid in `pidFile`, if that process is alive and its command line holds
 * every one of `marks` (its main class and its own config file): a recycled
 * pid belongs to someone else and is never signalled.
 */
export function livePid(pidFile: string, marks: readonly string[]): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return marks.every((m) => cmdline.includes(m)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The last `lines` lines of a log file, or `(no log)`. */
export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
