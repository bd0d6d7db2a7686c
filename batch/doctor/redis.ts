/** Doctor's checks of Redis: it answers, its eviction policy keeps BullMQ's jobs, and whether it persists them. */
import type { Config } from '../../core/index.js';
import { redactUrl } from './postgres.js';
import { failureFinding } from './run.js';
import type { DoctorCheck, DoctorContext, DoctorFinding } from './types.js';

const target = (config: Config) => `Redis at ${redactUrl(config.redisUrl)} (REDIS_URL)`;

/** One `CONFIG GET` value; `undefined` when the server does not have the parameter. Throws when CONFIG is refused (managed services rename or disable it). */
async function configValue(ctx: DoctorContext, parameter: string): Promise<string | undefined> {
  const reply = (await (await ctx.redis()).config('GET', parameter)) as string[];
  const at = reply.indexOf(parameter);
  return at >= 0 ? reply[at + 1] : undefined;
}

export function redisConnectCheck(config: Config): DoctorCheck {
  const check: DoctorCheck = {
    name: 'redis.connect',
    target: target(config),
    async run(ctx) {
      try {
        const info = await (await ctx.redis()).info('server');
        const version = /^redis_version:(.+)$/m.exec(info)?.[1]?.trim() ?? 'unknown';
        return { status: 'pass', detail: `${redactUrl(config.redisUrl)}: Redis ${version}`, fix: '' };
      } catch (err) {
        return { ...failureFinding(check, err, ctx.timeoutMs), fix: 'start Redis, or correct REDIS_URL' };
      }
    },
  };
  return check;
}

/**
 * Judge `maxmemory-policy`: BullMQ keeps its jobs as ordinary keys, so any
 * policy that evicts lets Redis drop jobs (and their locks) under memory
 * pressure; only `noeviction` refuses writes instead.
 */
export function judgeEviction(policy: string | undefined): DoctorFinding {
  if (policy === 'noeviction') return { status: 'pass', detail: 'maxmemory-policy is noeviction', fix: '' };
  return {
    status: 'fail',
    detail: `maxmemory-policy is ${policy ?? 'unknown'}: under memory pressure Redis evicts keys, and BullMQ loses jobs`,
    fix: 'CONFIG SET maxmemory-policy noeviction, and set it in redis.conf (a managed service: its parameter group)',
  };
}

export function redisEvictionCheck(config: Config): DoctorCheck {
  return {
    name: 'redis.eviction',
    target: target(config),
    requires: ['redis.connect'],
    async run(ctx) {
      let policy: string | undefined;
      try {
        policy = await configValue(ctx, 'maxmemory-policy');
      } catch (err) {
        return unreadable(err, 'maxmemory-policy is noeviction');
      }
      return judgeEviction(policy);
    },
  };
}

/**
 * Judge persistence: with neither RDB save points nor the append-only file, a
 * restart loses every queued job. That is recoverable (the recon database is
 * the record: the sweeper queues lost compensations again), so a warning that
 * says what is lost.
 */
export function judgePersistence(save: string | undefined, appendonly: string | undefined): DoctorFinding {
  const aof = appendonly === 'yes';
  const rdb = Boolean(save && save.trim() !== '');
  if (aof || rdb) {
    const how = [...(aof ? ['append-only file on'] : []), ...(rdb ? [`RDB snapshots (save ${save!.trim()})`] : [])].join(', ');
    return { status: 'pass', detail: `persistence: ${how}`, fix: '' };
  }
  return {
    status: 'warn',
    detail:
      'persistence is off (save "", appendonly no): a restart loses the queued jobs; `recon worker` queues lost compensations again, a queued run not started yet is lost',
    fix: 'to keep jobs across restarts: CONFIG SET appendonly yes (and in redis.conf); else nothing (the next run redoes a lost one)',
  };
}

export function redisPersistenceCheck(config: Config): DoctorCheck {
  return {
    name: 'redis.persistence',
    target: target(config),
    requires: ['redis.connect'],
    async run(ctx) {
      let save: string | undefined;
      let appendonly: string | undefined;
      try {
        [save, appendonly] = [await configValue(ctx, 'save'), await configValue(ctx, 'appendonly')];
      } catch (err) {
        return unreadable(err, 'persistence (appendonly or save) is what you want');
      }
      return judgePersistence(save, appendonly);
    },
  };
}

/** CONFIG refused (managed Redis services disable or rename it): cannot tell, say what to verify by hand. */
function unreadable(err: unknown, verify: string): DoctorFinding {
  return {
    status: 'warn',
    detail: `cannot read the configuration (${err instanceof Error ? err.message : String(err)})`,
    fix: `make sure ${verify} (a managed service: its parameter group)`,
  };
}

export function redisChecks(config: Config): DoctorCheck[] {
  return [redisConnectCheck(config), redisEvictionCheck(config), redisPersistenceCheck(config)];
}
