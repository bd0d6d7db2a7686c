import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/index.js';
import { localListener, servicesStatus, servicesUp } from '../../services/local-kafka.js';

describe('recon services', () => {
  it('starts nothing when KAFKA_BROKERS already answers', async () => {
    const config = loadConfig(process.env);
    const before = await servicesStatus(config);
    expect(before.reachable).toBe(true);
    const result = await servicesUp(config);
    expect(result.action).toBe('reachable');
    expect((await servicesStatus(config)).managedPid).toBe(before.managedPid);
  });

  it('refuses to start a broker for a KAFKA_BROKERS on another host that does not answer', async () => {
    const config = loadConfig({ KAFKA_BROKERS: 'kafka.invalid:9092' });
    await expect(servicesUp(config)).rejects.toThrow(/only starts a broker on this machine/);
  });

  it('hosts only a single loopback broker', () => {
    expect(localListener(['127.0.0.1:19092'])).toEqual({ host: '127.0.0.1', port: 19092, local: true });
    expect(localListener(['localhost:9092', 'localhost:9093']).local).toBe(false);
    expect(localListener(['10.0.0.5:9092']).local).toBe(false);
  });
});
