/**
 * The checks `recon doctor` runs, in the order it prints them. Each is
 * independent (its own questions, the context's shared clients); a check
 * that needs another to pass first says so in `requires`. To add one, write
 * a {@link DoctorCheck} beside the others of its service and list it here.
 */
import type { Config } from '../../core/index.js';
import { kafkaChecks } from './kafka.js';
import { databaseChecks } from './postgres.js';
import { privilegeChecks } from './privileges.js';
import { redisChecks } from './redis.js';
import { connectorsCheck, replicationChecks } from './replication.js';
import type { DoctorCheck } from './types.js';

export function doctorChecks(config: Config): DoctorCheck[] {
  return [
    ...databaseChecks(config, 'users'),
    ...replicationChecks(config, 'users'),
    ...databaseChecks(config, 'points'),
    ...replicationChecks(config, 'points'),
    ...databaseChecks(config, 'recon'),
    ...privilegeChecks(config),
    ...kafkaChecks(config),
    ...(config.relay === 'debezium' ? [connectorsCheck(config)] : []),
    ...redisChecks(config),
  ];
}
