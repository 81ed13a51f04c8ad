import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../config/index.js';
import { createLogger } from '../core/index.js';
import { createPipeline, idleTickMs } from './pipeline.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('createPipeline', () => {
  it('leaves nothing behind that keeps a dropped pipeline in memory', async () => {
    const config = validateConfig(
      {
        kafka: { brokers: ['127.0.0.1:1'], groupId: 'g' },
        sources: [{ topics: ['t'], format: 'json' }],
        output: { table: 't', columns: [{ name: 'a', type: 'String' }] },
        storage: { url: 'http://127.0.0.1:1' },
        http: { enabled: false },
      },
      {},
      '/tmp/pipeline.yaml',
    );
    const dropped = () =>
      new WeakRef(createPipeline(config, { logger: createLogger({ level: 'silent' }) }).sink);
    const refs = [dropped(), dropped(), dropped()];
    // Metrics registered per pipeline (a GC observer, an event-loop monitor) used to hold each one.
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(refs.map((r) => r.deref() === undefined)).toEqual([true, true, true]);
  });
});

describe('idle ticks', () => {
  const withFeatures = (...features: Record<string, unknown>[]) =>
    validateConfig({
      kafka: { brokers: ['k:1'], groupId: 'g' },
      sources: [{ topics: ['t'] }],
      output: { table: 't', columns: [{ name: 'a', type: 'String' }] },
      features: features.map((f, i) => ({
        name: `f${i}`,
        entity: 'a',
        eventTime: '$timestamp',
        aggregations: [{ name: 'n', fn: 'count' }],
        ...f,
      })),
    });
  const tumbling = { window: { type: 'tumbling', size: '1m' } };
  const sessions = { window: { type: 'session', gap: '30s' } };

  it('come at least every second with fixed windows, whose closed windows a tick writes', () => {
    expect(idleTickMs(withFeatures({ ...tumbling, idleTimeout: 'off' }))).toBe(1000);
    expect(idleTickMs(withFeatures({ ...tumbling, idleTimeout: '1m' }))).toBe(1000);
    expect(idleTickMs(withFeatures({ ...tumbling, idleTimeout: '1s' }))).toBe(500);
  });

  it('otherwise follow the idle timeout, and do not come without one', () => {
    expect(idleTickMs(withFeatures({ ...sessions, idleTimeout: '1m' }))).toBe(5000);
    expect(idleTickMs(withFeatures({ ...sessions, idleTimeout: 'off' }))).toBeUndefined();
    expect(idleTickMs(withFeatures())).toBeUndefined();
  });
});
