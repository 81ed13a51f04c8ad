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
import { committed, createTopic, kafkaClient, topicEnds, waitFor } from './support/kafka.js';
import { USER_10S_IDLE } from './support/pipeline.js';

const env = services();
const dir = mkdtempSync(join(tmpdir(), 'transactions-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = Date.UTC(2026, 0, 1);
const event = (ts: number, user = 'u1') => ({
  partition: 0,
  value: JSON.stringify({ user, ts: new Date(ts).toISOString() }),
});

/**
 * Transactional producers (Kafka Streams and Connect with exactly-once, Flink) write a commit or
 * abort marker after each transaction: the partition's high watermark is one past the last record.
 * The lane must still count as idle (its windows close on the idle timeout), commit past the
 * marker (lag 0, as the Java consumer does), and never store aborted records.
 */
describe('transactional topics', () => {
  it.each([
    ['with a feature set: windows close by idle time', true],
    ['without features: nothing but the markers moves the lane', false],
  ])('%s, and the lane commits past commit and abort markers', async (_, withFeatures) => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('tx');
    const groupId = uniqueName('g');
    const db = withFeatures ? 'transactions' : 'transactions_plain';
    await createTopic(brokers, topic, 1);
    const config = validateConfig({
      kafka: { brokers: [brokers], groupId },
      sources: [{ topics: [topic] }],
      workers: withFeatures ? 0 : 1,
      output: { database: db, table: 'events', columns: [{ name: 'user', type: 'String' }] },
      features: withFeatures ? [USER_10S_IDLE] : [],
      storage: { path: join(dir, 'chdb'), flushIntervalMs: 200 },
      http: { enabled: false },
    });
    const producer = kafkaClient(brokers).producer({
      transactionalId: uniqueName('tx-producer'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const pipeline = createPipeline(config, { logger: createLogger({ level: 'warn', destination: 2 }) });
    await pipeline.start();
    try {
      // A committed transaction: 50 events of one window, then its commit marker.
      const committedTx = await producer.transaction();
      await committedTx.send({
        topic,
        messages: Array.from({ length: 50 }, (_, i) => event(BASE + i * 100)),
      });
      await committedTx.commit();
      await waitFor(
        'the committed records consumed',
        async () => (await counterValue(pipeline.telemetry.recordsIn, 'ingestion')) >= 50,
        60_000,
      );
      // An aborted one: its records and its marker are all the lane gets next.
      const abortedTx = await producer.transaction();
      await abortedTx.send({
        topic,
        messages: Array.from({ length: 10 }, (_, i) => event(BASE + 6000 + i * 100, 'aborted')),
      });
      await abortedTx.abort();
      // The coordinator writes the abort marker after abort() returns, and the end read here is the
      // last stable offset, so it reaches 62 only once the marker is in the log.
      let high = 0n;
      await waitFor(
        'the abort marker written',
        async () => (high = (await topicEnds(brokers, topic)).get(0)!) === 62n, // 50, a marker, 10, a marker
        30_000,
      );
      // Nothing more comes: the lane commits the end (the idle timeout closes the window), and
      // nothing counts as behind.
      await waitFor(
        'the end committed',
        async () =>
          (!withFeatures || (await pipeline.telemetry.featureRows.get()).values.some((v) => v.value > 0)) &&
          (await committed(brokers, groupId, topic)).get(0) === high &&
          (await pipeline.source.behind()).get(`${topic}/0`) === 0n,
        30_000,
      );
    } finally {
      await pipeline.stop(Date.now() + 30_000);
      await producer.disconnect();
    }
    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      const stored = await rows<{ user: string; n: string }>(
        client,
        `SELECT user, count() AS n FROM ${db}.events GROUP BY user`,
      );
      expect(stored.map((r) => [r.user, Number(r.n)])).toEqual([['u1', 50]]);
      const dead = await rows<{ reason: string }>(client, `SELECT reason FROM ${db}.events_dead_letters`);
      expect(dead.map((d) => d.reason)).toEqual([]);
      if (!withFeatures) return;
      const windows = await rows<{ entity: string; events: unknown }>(
        client,
        `SELECT entity, events FROM ${db}.user_10s FINAL`,
      );
      expect(windows.map((w) => [w.entity, Number(w.events)])).toEqual([['u1', 50]]);
    } finally {
      await client.close();
    }
  });
});
