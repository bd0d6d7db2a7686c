import { describe, expect, it } from 'vitest';
import { clusterLayout } from '../../services/index.js';
import { topicReplication } from '../../streaming/index.js';

describe('the local cluster layout', () => {
  it('puts node i on the i-th address of KAFKA_BROKERS, its controller on port + 1, each in its own folder', () => {
    const nodes = clusterLayout(['127.0.0.1:9092', 'localhost:9192', '127.0.0.1:9292'], '/tmp/c', '/tmp/libs');
    expect(nodes.map((n) => [n.id, n.port, n.controllerPort, n.paths.home, n.paths.libs])).toEqual([
      [1, 9092, 9093, '/tmp/c/node-1', '/tmp/libs'],
      [2, 9192, 9193, '/tmp/c/node-2', '/tmp/libs'],
      [3, 9292, 9293, '/tmp/c/node-3', '/tmp/libs'],
    ]);
  });

  it('refuses anything but three distinct local addresses, naming KAFKA_BROKERS', () => {
    expect(() => clusterLayout(['127.0.0.1:9092', '127.0.0.1:9192'])).toThrow(/^KAFKA_BROKERS=.* lists 2 addresses/);
    expect(() => clusterLayout(['127.0.0.1:9092', 'kafka-2:9192', '127.0.0.1:9292'])).toThrow(/names kafka-2, not this machine/);
    expect(() => clusterLayout(['127.0.0.1:9092', '127.0.0.1:9092', '127.0.0.1:9292'])).toThrow(/two listeners on port 9092/);
    expect(() => clusterLayout(['127.0.0.1:9092', '127.0.0.1:65535', '127.0.0.1:9292'])).toThrow(/port 65535/);
  });

  it('replicates topics 3 with min ISR 2 from three brokers up, else 1 and 1', () => {
    expect(topicReplication(1)).toEqual({ replicationFactor: 1, minInsyncReplicas: 1 });
    expect(topicReplication(2)).toEqual({ replicationFactor: 1, minInsyncReplicas: 1 });
    expect(topicReplication(3)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 });
    expect(topicReplication(5)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 });
  });
});
