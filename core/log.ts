import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/**
 * The process logger: JSON lines on stderr (stdout stays for command output,
 * tables and `--json`), pretty when stderr is a terminal.
 */
export function createLogger(config: Pick<Config, 'logLevel'>, name = 'recon'): Logger {
  const pretty = Boolean(process.stderr.isTTY);
  return pino(
    { name, level: config.logLevel },
    pretty ? pino.transport({ target: 'pino-pretty', options: { destination: 2, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' } }) : pino.destination(2),
  );
}

/** A logger that writes nothing, for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
