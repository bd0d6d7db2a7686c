/**
 * Doctor's checks for the Debezium relay: `wal_level`, the replication slots
 * of each source database (a slot nobody reads holds WAL until the disk is
 * full), outbox rows deleted right after insert (Debezium's documented
 * pattern, which leaves recon nothing to reconcile), dead rows piling up in
 * the polling relay's work list (when nothing vacuums it), and, under
 * `RECON_RELAY=debezium`, the connectors' state on Kafka Connect.
 */
import type { Config, SourceDatabase } from '../../core/index.js';
import {
  outboxRetentionFacts,
  replicationSlots,
  walLevel,
  workListVacuumFacts,
  type OutboxRetentionFacts,
  type ReplicationSlot,
  type WorkListVacuumFacts,
} from '../../db/index.js';
import { OUTBOX_DATABASES, connectClient, outboxConnectorNames, type ConnectorStatus } from '../../streaming/index.js';
import { redactUrl, DATABASE_VARIABLES } from './postgres.js';
import type { DoctorCheck, DoctorFinding } from './types.js';

const target = (config: Config, name: SourceDatabase) => `Postgres at ${redactUrl(config.databases[name])} (${DATABASE_VARIABLES[name]})`;

const WAL_LEVEL_FIX =
  "ALTER SYSTEM SET wal_level = 'logical'; then restart Postgres (also check max_replication_slots and max_wal_senders: one slot and one sender per connector, plus what else replicates)";

/** `wal_level` against the relay: Debezium needs `logical`; the polling relay does not. */
export function judgeWalLevel(level: string, relay: Config['relay']): DoctorFinding {
  if (level === 'logical') return { status: 'pass', detail: 'wal_level is logical: the outbox can be relayed by CDC (Debezium)', fix: '' };
  if (relay === 'debezium') {
    return {
      status: 'fail',
      detail: `wal_level is ${level}, and RECON_RELAY=debezium: Debezium cannot stream the outbox without logical decoding`,
      fix: WAL_LEVEL_FIX,
    };
  }
  return {
    status: 'warn',
    detail: `wal_level is ${level}: fine for the polling relay (RECON_RELAY=polling), but the Debezium relay would need logical`,
    fix: `only for RECON_RELAY=debezium: ${WAL_LEVEL_FIX}`,
  };
}

export function walLevelCheck(config: Config, name: SourceDatabase): DoctorCheck {
  return {
    name: `${name}.wal-level`,
    target: target(config, name),
    requires: [`${name}.connect`],
    async run(ctx) {
      return judgeWalLevel(await walLevel(ctx.postgres(config.databases[name])), config.relay);
    },
  };
}

const mib = (bytes: number | null) => (bytes === null ? 'unknown' : `${bytes} bytes (${(bytes / 1024 / 1024).toFixed(1)} MiB)`);

/**
 * Judge the replication slots of one database: an inactive slot (nobody
 * reads it: a deleted or stopped connector) or one whose consumer is more
 * than `lagWarnBytes` behind is a warning naming the slot and its bytes; under
 * `RECON_RELAY=debezium` a missing connector slot is one too.
 */
export function judgeReplicationSlots(slots: readonly ReplicationSlot[], lagWarnBytes: number, expected?: string): DoctorFinding {
  const measured: Record<string, number> = {};
  for (const s of slots) measured[s.slot] = s.retainedBytes ?? 0;
  const problems: string[] = [];
  for (const s of slots) {
    const held = Math.max(s.retainedBytes ?? 0, s.lagBytes ?? 0);
    if (!s.active) problems.push(`slot ${s.slot} is inactive and holds ${mib(s.retainedBytes)} of WAL`);
    else if (held > lagWarnBytes) problems.push(`slot ${s.slot} is ${mib(held)} behind (more than RECON_SLOT_LAG_WARN_BYTES=${lagWarnBytes})`);
    if (s.walStatus === 'lost')
      problems.push(`slot ${s.slot} has lost WAL it needed (wal_status lost): its connector must be re-created and the outbox reconciled`);
  }
  const missing = expected !== undefined && !slots.some((s) => s.slot === expected);
  if (missing) problems.push(`RECON_RELAY=debezium, but the connector's slot ${expected} does not exist`);
  if (problems.length === 0) {
    const detail = slots.length
      ? slots.map((s) => `${s.slot} active, ${mib(s.lagBytes ?? s.retainedBytes)} behind`).join('; ')
      : 'no replication slots on this database';
    return { status: 'pass', detail, fix: '', measured };
  }
  return {
    status: 'warn',
    detail: problems.join('; '),
    fix: [
      ...(slots.some((s) => !s.active)
        ? [
            "a slot nobody reads keeps WAL until the disk is full: restart its connector, or drop it (`recon connect remove` drops recon's, or select pg_drop_replication_slot('<slot>'))",
          ]
        : []),
      ...(slots.some((s) => s.active && Math.max(s.retainedBytes ?? 0, s.lagBytes ?? 0) > lagWarnBytes)
        ? ['see `recon connect status`: a paused or failing connector, or one that cannot keep up']
        : []),
      ...(missing ? ['run `recon connect register` (and check `recon connect status`)'] : []),
    ].join('; '),
    measured,
  };
}

export function replicationSlotsCheck(config: Config, name: SourceDatabase): DoctorCheck {
  return {
    name: `${name}.replication-slots`,
    target: target(config, name),
    requires: [`${name}.connect`],
    async run(ctx) {
      const expected = config.relay === 'debezium' ? outboxConnectorNames(config, name).slot : undefined;
      return judgeReplicationSlots(await replicationSlots(ctx.postgres(config.databases[name])), config.connect.slotLagWarnBytes, expected);
    },
  };
}

/** Inserts under which the deleted share says nothing yet. */
export const RETENTION_MIN_INSERTS = 1000;

/**
 * Judge whether outbox rows are kept: a trigger or rule that deletes them (or
 * keeps them out of the table) fails, since recon then has no row to compare
 * with the topic and the consumers; nearly every inserted row deleted with
 * almost none left is a warning (the insert-then-delete pattern, or a prune far
 * more eager than reconciliation).
 */
export function judgeOutboxRetention(facts: OutboxRetentionFacts | undefined): DoctorFinding {
  const keep =
    'recon reconciles the outbox against the topic and the consumers: keep outbox rows until every window holding them is reconciled (past the watermark and the grace), then prune';
  if (!facts) return { status: 'pass', detail: 'no statistics for outbox yet', fix: '' };
  const measured = { inserted: facts.inserted, deleted: facts.deleted, live: facts.live };
  if (facts.deletingTriggers.length || facts.rules.length) {
    return {
      status: 'fail',
      detail: `outbox has ${[...facts.deletingTriggers.map((t) => `trigger ${t}`), ...facts.rules.map((r) => `rule ${r}`)].join(', ')} that delete${facts.deletingTriggers.length + facts.rules.length === 1 ? 's' : ''} its rows or keeps them out (the insert-then-delete pattern)`,
      fix: `${keep}; drop the trigger or rule`,
      measured,
    };
  }
  if (facts.inserted >= RETENTION_MIN_INSERTS && facts.deleted >= 0.9 * facts.inserted && facts.live <= 0.01 * facts.inserted) {
    return {
      status: 'warn',
      detail: `${facts.deleted} of ${facts.inserted} outbox rows inserted were deleted and about ${facts.live} remain: rows are deleted soon after insert`,
      fix: keep,
      measured,
    };
  }
  return { status: 'pass', detail: `${facts.inserted} outbox rows inserted, ${facts.deleted} deleted, about ${facts.live} kept`, fix: '', measured };
}

export function outboxRetentionCheck(config: Config, name: SourceDatabase): DoctorCheck {
  return {
    name: `${name}.outbox-retention`,
    target: target(config, name),
    requires: [`${name}.connect`],
    async run(ctx) {
      return judgeOutboxRetention(await outboxRetentionFacts(ctx.postgres(config.databases[name])));
    },
  };
}

/** Dead row versions in the work list from which doctor warns, at the least; and per live row. */
export const WORK_LIST_DEAD_MIN = 10_000;
export const WORK_LIST_DEAD_PER_LIVE = 10;

/**
 * Judge whether the relay's work list is vacuumed. It is a queue: every
 * outbox row passes through it and leaves a dead row version and a dead
 * index entry behind, which the relay's claim walks past until a vacuum
 * removes them. So dead versions far beyond the live rows warn, saying
 * whether autovacuum is off (the server's setting or the table's) and when
 * the list was last vacuumed.
 */
export function judgeWorkListVacuum(facts: WorkListVacuumFacts | undefined): DoctorFinding {
  if (!facts) return { status: 'pass', detail: 'no statistics for unpublished_events yet', fix: '' };
  const measured = { live: facts.live, dead: facts.dead };
  const off = !facts.autovacuum ? 'autovacuum is off on this server' : !facts.tableAutovacuum ? 'autovacuum is off for unpublished_events' : '';
  const last = facts.lastVacuum ? `last vacuumed ${facts.lastVacuum.toISOString()}` : 'never vacuumed since the statistics were reset';
  if (facts.dead >= Math.max(WORK_LIST_DEAD_MIN, WORK_LIST_DEAD_PER_LIVE * facts.live)) {
    return {
      status: 'warn',
      detail: `the relay's work list unpublished_events holds ${facts.dead} dead row versions for ${facts.live} rows (${last}${off ? `; ${off}` : ''}): every claim of the relay walks past them`,
      fix: off
        ? `turn autovacuum on (${facts.autovacuum ? 'ALTER TABLE unpublished_events RESET (autovacuum_enabled)' : 'ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf()'}), or run VACUUM unpublished_events every minute or so as its owner`
        : 'VACUUM unpublished_events as its owner, and check why autovacuum has not (a long transaction holding back the xmin horizon keeps dead rows too)',
      measured,
    };
  }
  return {
    status: 'pass',
    detail: `unpublished_events: ${facts.live} rows, ${facts.dead} dead row versions (${last}${off ? `; ${off}: vacuum it on a schedule` : ''})`,
    fix: '',
    measured,
  };
}

export function workListVacuumCheck(config: Config, name: SourceDatabase): DoctorCheck {
  return {
    name: `${name}.work-list-vacuum`,
    target: target(config, name),
    requires: [`${name}.connect`],
    async run(ctx) {
      return judgeWorkListVacuum(await workListVacuumFacts(ctx.postgres(config.databases[name])));
    },
  };
}

/** Judge the outbox connectors' states (`undefined`: Connect does not know it). */
export function judgeConnectors(statuses: readonly { connector: string; status: ConnectorStatus | undefined }[]): DoctorFinding {
  const problems = statuses.flatMap(({ connector, status }) => {
    if (!status) return [`${connector} is not registered`];
    const bad = [
      ...(status.connector.state === 'RUNNING' ? [] : [`${connector} is ${status.connector.state}`]),
      ...status.tasks.filter((t) => t.state !== 'RUNNING').map((t) => `${connector} task ${t.id} is ${t.state}`),
    ];
    return status.tasks.length === 0 ? [...bad, `${connector} has no task`] : bad;
  });
  if (problems.length === 0) return { status: 'pass', detail: `${statuses.map((s) => s.connector).join(', ')}: running`, fix: '' };
  return {
    status: 'fail',
    detail: problems.join('; '),
    fix: "run `recon connect register` for a missing connector; `recon connect status` shows a failed task's error (resume a paused one with PUT /connectors/<name>/resume)",
  };
}

/** Under `RECON_RELAY=debezium`: the worker answers and both outbox connectors and their tasks run. */
export function connectorsCheck(config: Config): DoctorCheck {
  return {
    name: 'connect.connectors',
    target: `Kafka Connect at ${config.connect.url} (KAFKA_CONNECT_URL)`,
    async run(ctx) {
      const client = connectClient(config.connect.url, { timeoutMs: ctx.timeoutMs });
      const statuses = [];
      for (const database of OUTBOX_DATABASES) {
        const { connector } = outboxConnectorNames(config, database);
        statuses.push({ connector, status: await client.status(connector) });
      }
      return judgeConnectors(statuses);
    },
  };
}

/** The replication checks of one source database (after its other checks). */
export function replicationChecks(config: Config, name: SourceDatabase): DoctorCheck[] {
  return [walLevelCheck(config, name), replicationSlotsCheck(config, name), outboxRetentionCheck(config, name), workListVacuumCheck(config, name)];
}
