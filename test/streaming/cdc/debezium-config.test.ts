/**
 * The outbox connectors' names and configuration: valid slot and publication
 * names under any namespace, the database URL split into Debezium's fields,
 * and the router mapped onto recon's outbox columns, applied to the outbox's
 * change events only (heartbeats pass through).
 */
import { describe, expect, it } from 'vitest';
import { connectionFields, outboxConnectorConfig, outboxConnectorNames } from '../../../streaming/index.js';

describe('outbox connector names', () => {
  it('derive from the namespace and the database; slots and publications are valid Postgres names', () => {
    expect(outboxConnectorNames({ namespace: undefined }, 'users')).toEqual({
      database: 'users',
      connector: 'users-outbox',
      topicPrefix: 'users-outbox',
      slot: 'recon_users_outbox',
      publication: 'recon_users_outbox',
      heartbeatPrefix: 'recon-heartbeat',
      heartbeatTopic: 'recon-heartbeat.users-outbox',
    });
    const n = outboxConnectorNames({ namespace: 'Staging-EU' }, 'points');
    expect(n.connector).toBe('Staging-EU.points-outbox');
    expect(n.slot).toBe('recon_staging_eu_points_outbox');
    expect(n.heartbeatTopic).toBe('Staging-EU.recon-heartbeat.Staging-EU.points-outbox');
    const long = outboxConnectorNames({ namespace: 'x'.repeat(64) }, 'users');
    expect(long.slot).toMatch(/^[a-z0-9_]{1,63}$/);
  });
});

describe('connection fields', () => {
  it('split a postgres URL into host, port, database, user and password', () => {
    expect(connectionFields('postgres://cdc:s%40cret@db.internal:6543/recon_users')).toEqual({
      'database.hostname': 'db.internal',
      'database.port': '6543',
      'database.dbname': 'recon_users',
      'database.user': 'cdc',
      'database.password': 's@cret',
    });
    expect(connectionFields('postgres://postgres@127.0.0.1/recon_points')).toEqual({
      'database.hostname': '127.0.0.1',
      'database.port': '5432',
      'database.dbname': 'recon_points',
      'database.user': 'postgres',
    });
  });
});

describe('outbox connector config', () => {
  const names = outboxConnectorNames({ namespace: 'test.x' as never }, 'users');
  const config = outboxConnectorConfig(names, 'postgres://postgres@127.0.0.1:5432/recon_users');

  it('maps the router onto the outbox columns as they are', () => {
    expect(config).toMatchObject({
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      'plugin.name': 'pgoutput',
      'slot.name': names.slot,
      'publication.name': names.publication,
      'table.include.list': 'public.outbox,public.recon_cdc_heartbeat',
      'transforms.dropHeartbeatRows.type': 'org.apache.kafka.connect.transforms.Filter',
      'snapshot.mode': 'no_data',
      'transforms.outbox.type': 'io.debezium.transforms.outbox.EventRouter',
      'transforms.outbox.table.field.event.id': 'event_id',
      'transforms.outbox.table.field.event.key': 'message_key',
      'transforms.outbox.table.field.event.payload': 'payload',
      'transforms.outbox.route.by.field': 'topic',
      'transforms.outbox.route.topic.replacement': '${routedByValue}',
      'topic.heartbeat.prefix': names.heartbeatPrefix,
      'extended.headers.enabled': 'false',
    });
  });

  it('applies the router to the outbox change events only, so heartbeats pass through', () => {
    const pattern = new RegExp(`^(?:${config['predicates.outboxTable.pattern']})$`);
    expect(pattern.test(`${names.topicPrefix}.public.outbox`)).toBe(true);
    expect(pattern.test(names.heartbeatTopic)).toBe(false);
    // Dots of the namespace are literal, not "any character".
    expect(pattern.test(`${names.topicPrefix.replace('.', 'X')}.public.outbox`)).toBe(false);
    expect(config['transforms.outbox.predicate']).toBe('outboxTable');
    // The heartbeat table's change events are dropped before the router.
    const heartbeatRows = new RegExp(`^(?:${config['predicates.heartbeatTable.pattern']})$`);
    expect(heartbeatRows.test(`${names.topicPrefix}.public.recon_cdc_heartbeat`)).toBe(true);
    expect(heartbeatRows.test(`${names.topicPrefix}.public.outbox`)).toBe(false);
    expect(config.transforms).toBe('dropHeartbeatRows,outbox');
  });
});
