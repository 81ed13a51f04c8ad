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
import { createTopic, produceInOrder, waitFor } from './support/kafka.js';

const env = services();
const dir = mkdtempSync(join(tmpdir(), 'backlog-end-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `count` records of about `pad` bytes for partition 0, numbered from `from`. */
const records = (from: number, count: number, pad: number) =>
  new Map([
    [
      0,
      Array.from({ length: count }, (_, k) => ({
        value: JSON.stringify({ user: `u${from + k}`, pad: 'x'.repeat(pad) }),
      })),
    ],
  ]);

/**
 * Storage writes what waits when the lanes pause (`quietFlushMs`). At the end of a backlog it need
 * not wait for the pause: the source knows every lane has read up to its high watermark. With the
 * quiet wait and the flush interval at 10 minutes, only that can store the backlog's rows in time.
 */
describe('the end of a backlog', () => {
  it('is stored as soon as the lanes have read it all, while records that stream in later wait for a pause', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('backlog_end');
    const db = 'backlog_end';
    await createTopic(brokers, topic, 1);
    // 2 MB in 20 record batches: a fetch takes at most 1 MiB of a partition, so the lane reads the
    // backlog in two fetches, the first ending below the high watermark.
    await produceInOrder(brokers, topic, records(0, 2000, 1000), 100);
    const config = validateConfig({
      kafka: { brokers: [brokers], groupId: uniqueName('g') },
      sources: [{ topics: [topic] }],
      workers: 0,
      output: { database: db, table: 'events', columns: [{ name: 'user', type: 'String' }] },
      storage: {
        path: join(dir, 'chdb'),
        batchRows: 10_000,
        flushIntervalMs: 600_000,
        quietFlushMs: 600_000,
      },
      http: { enabled: false },
    });
    const pipeline = createPipeline(config, { logger: createLogger({ level: 'warn', destination: 2 }) });
    await pipeline.start();
    const count = (module: 'ingestion' | 'storage') =>
      counterValue(
        module === 'ingestion' ? pipeline.telemetry.recordsIn : pipeline.telemetry.recordsOut,
        module,
      );
    try {
      await waitFor('the backlog stored', async () => (await count('storage')) >= 2000, 30_000);
      expect(await count('storage')).toBe(2000);
      // Caught up: 1,000 more records (a tenth of batchRows, which a pause would write) come in one
      // fetch that reaches the high watermark. They are no backlog's end, and wait for a pause.
      await produceInOrder(brokers, topic, records(2000, 1000, 100), 1000);
      await waitFor('the 1,000 more consumed', async () => (await count('ingestion')) >= 3000, 30_000);
      await new Promise((r) => setTimeout(r, 1500));
      expect(await count('storage')).toBe(2000);
    } finally {
      await pipeline.stop(Date.now() + 30_000); // drains what waits
    }
    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      const stored = await rows<{ n: unknown }>(client, `SELECT count() AS n FROM ${db}.events`);
      expect(Number(stored[0]!.n)).toBe(3000);
    } finally {
      await client.close();
    }
  });
});
