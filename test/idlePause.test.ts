import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/index.js';
import { counterValue, createLogger } from '../src/core/index.js';
import { createPipeline } from '../src/pipeline/index.js';
import { createClickHouseClient } from '../src/storage/index.js';
import { rows } from './support/clickhouse.js';
import { services, uniqueName } from './support/env.js';
import { caughtUp, createTopic, produceInOrder, waitFor } from './support/kafka.js';
import { USER_10S_IDLE } from './support/pipeline.js';

const env = services();
const dir = mkdtempSync(join(tmpdir(), 'idle-pause-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = Date.UTC(2026, 0, 1);
const event = (ts: number) => ({ value: JSON.stringify({ user: 'u1', ts: new Date(ts).toISOString() }) });

/**
 * Idle means Kafka has no more records for the lane, not that none came for a while: consumption
 * paused (an open circuit while ClickHouse is down) past the idle timeout must not run the clock on,
 * or the records that waited in Kafka meanwhile would be refused as late.
 */
describe('idle timeout across a pause', () => {
  it('keeps windows open while consumption is paused, and closes them once the lane is idle', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('idle_pause');
    const db = 'idle_pause';
    await createTopic(brokers, topic, 1);
    const config = validateConfig({
      kafka: { brokers: [brokers], groupId: uniqueName('g') },
      sources: [{ topics: [topic] }],
      workers: 0,
      output: { database: db, table: 'events', columns: [{ name: 'user', type: 'String' }] },
      features: [USER_10S_IDLE],
      storage: { path: join(dir, 'chdb'), flushIntervalMs: 200 },
      http: { enabled: false },
    });
    const pipeline = createPipeline(config, { logger: createLogger({ level: 'warn', destination: 2 }) });
    await pipeline.start();
    const consumed = (n: number) => async () =>
      (await counterValue(pipeline.telemetry.recordsIn, 'ingestion')) >= n;
    try {
      // 100 events in [0 s, 8 s) of one 10 s window.
      const first = Array.from({ length: 100 }, (_, i) => event(BASE + i * 80));
      await produceInOrder(brokers, topic, new Map([[0, first]]));
      await waitFor('the first 100 records consumed', consumed(100), 60_000);
      // Paused for 3 s, three idle timeouts, while 100 more events of the same window wait in Kafka.
      pipeline.source.pause();
      const second = Array.from({ length: 100 }, (_, i) => event(BASE + 8000 + i * 10));
      await produceInOrder(brokers, topic, new Map([[0, second]]));
      await new Promise((r) => setTimeout(r, 3000));
      pipeline.source.resume();
      await waitFor('all 200 records consumed', consumed(200), 60_000);
      // Now the lane is idle: the idle timeout closes the window, with all 200 events.
      await waitFor(
        'the window written',
        async () => (await pipeline.telemetry.featureRows.get()).values.some((v) => v.value > 0),
        30_000,
      );
    } finally {
      await pipeline.stop(Date.now() + 30_000);
    }
    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      const dead = await rows<{ reason: string }>(client, `SELECT reason FROM ${db}.events_dead_letters`);
      expect(dead.map((d) => d.reason)).toEqual([]);
      const windows = await rows<{ entity: string; events: unknown }>(
        client,
        `SELECT entity, events FROM ${db}.user_10s FINAL`,
      );
      expect(windows.map((w) => [w.entity, Number(w.events)])).toEqual([['u1', 200]]);
    } finally {
      await client.close();
    }
  });

  it('commits a quiet lane once, not again on every idle tick', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('idle_commits');
    const groupId = uniqueName('g');
    await createTopic(brokers, topic, 1);
    const config = validateConfig({
      kafka: { brokers: [brokers], groupId },
      sources: [{ topics: [topic] }],
      workers: 0,
      output: { database: 'idle_pause', table: 'events', columns: [{ name: 'user', type: 'String' }] },
      features: [USER_10S_IDLE],
      storage: { path: join(dir, 'chdb'), flushIntervalMs: 200 },
      http: { enabled: false },
    });
    const pipeline = createPipeline(config, { logger: createLogger({ level: 'warn', destination: 2 }) });
    const commits = async () =>
      (await pipeline.telemetry.offsetCommits.get()).values.find((v) => v.labels.result === 'ok')?.value ?? 0;
    await pipeline.start();
    try {
      await produceInOrder(
        brokers,
        topic,
        new Map([[0, Array.from({ length: 20 }, (_, i) => event(BASE + i))]]),
      );
      // The idle timeout closes the window; the lane then commits past its last record, with metadata.
      await waitFor('all 20 committed', () => caughtUp(brokers, groupId, topic), 60_000);
      await new Promise((r) => setTimeout(r, 1000)); // the commit point settles: no window left open
      const settled = await commits();
      expect(settled).toBeGreaterThan(0);
      // Ticks come every 500 ms (idle timeout 1 s): six of them, and the commit point did not move.
      await new Promise((r) => setTimeout(r, 3000));
      expect(await commits()).toBe(settled);
    } finally {
      await pipeline.stop(Date.now() + 30_000);
    }
  });
});
