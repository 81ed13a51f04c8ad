import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { services, uniqueName } from '../support/env.js';
import { createTopic, kafkaClient, waitFor } from '../support/kafka.js';
import { metricValue, startPipelineProcess, writePipeline } from '../support/processes.js';

const env = services();
const ENTITIES = 100_000;
/** What RSS must stay under with 100,000 open windows of three aggregations (README: bounded state). */
const MEMORY_CEILING = 400 * 1024 * 1024;

describe('window state', () => {
  it('holds 100,000 entities in open windows under the memory ceiling, and the state metric reports them', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('entities');
    await createTopic(brokers, topic, 3);
    const producer = kafkaClient(brokers).producer();
    await producer.connect();
    const base = Date.UTC(2026, 0, 1);
    for (let start = 0; start < ENTITIES; start += 5000) {
      const messages = [];
      for (let i = start; i < start + 5000; i++) {
        // All in one hour-long window: nothing closes, every entity stays in memory.
        messages.push({
          partition: i % 3,
          value: JSON.stringify({
            user: `user-${i}`,
            amount: i % 100,
            ts: new Date(base + i * 10).toISOString(),
          }),
        });
      }
      await producer.send({ topic, messages });
    }
    await producer.disconnect();

    const config = writePipeline(mkdtempSync(join(tmpdir(), 'state-')), 'p.yaml', {
      kafka: { brokers: [brokers], groupId: uniqueName('g'), partitionsConsumedConcurrently: 3 },
      sources: [{ topics: [topic] }],
      output: { database: uniqueName('state'), table: 'events', columns: [{ name: 'user', type: 'String' }] },
      features: [
        {
          name: 'user_1h',
          entity: 'user',
          eventTime: 'ts',
          window: { type: 'tumbling', size: '1h' },
          aggregations: [
            { name: 'events', fn: 'count' },
            { name: 'revenue', fn: 'sum', field: 'amount' },
            { name: 'avg_amount', fn: 'avg', field: 'amount' },
          ],
          maxOpenWindows: 150_000,
        },
      ],
      storage: { url: env.clickhouseUrl },
      http: { port: 0, host: '127.0.0.1' },
    });
    const proc = await startPipelineProcess(config);
    try {
      let peak = 0;
      await waitFor(
        'all entities in open windows',
        async () => {
          peak = Math.max(peak, proc.rss());
          return (
            metricValue(await proc.metrics(), 'megaservice_open_windows{feature_set="user_1h"}') === ENTITIES
          );
        },
        120_000,
        200,
      );
      // Event time's progress: the slowest of the three lanes ends at record 99,997 (partition 1).
      expect(
        metricValue(await proc.metrics(), 'megaservice_feature_watermark_seconds{feature_set="user_1h"}'),
      ).toBe((base + (ENTITIES - 3) * 10) / 1000);
      peak = Math.max(peak, proc.rss());
      console.log(`[state] ${ENTITIES} open windows, peak RSS ${Math.round(peak / 1048576)} MiB`);
      expect(peak).toBeLessThan(MEMORY_CEILING);
      proc.child.kill('SIGTERM');
      expect((await proc.exited).code, proc.output()).toBe(0);
    } finally {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    }
  });
});
