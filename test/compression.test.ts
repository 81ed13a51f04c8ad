import { spawnSync } from 'node:child_process';
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
import { createTopic, waitFor } from './support/kafka.js';

const env = services();
const dir = mkdtempSync(join(tmpdir(), 'compression-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
const PER_TOPIC = 5000;
const SERVICES = join(import.meta.dirname, '..', 'scripts', 'services.sh');

/** Kafka's own Java console producer writes the lines, compressed with the codec. */
function javaProduce(brokers: string, topic: string, codec: string, lines: readonly string[]) {
  const out = spawnSync(
    'bash',
    [
      SERVICES,
      'kafka-tool',
      'kafka.tools.ConsoleProducer',
      '--bootstrap-server',
      brokers,
      '--topic',
      topic,
      '--compression-codec',
      codec,
      '--producer-property',
      'batch.size=262144',
      '--producer-property',
      'linger.ms=50',
    ],
    { input: lines.join('\n') + '\n', encoding: 'utf8', timeout: 120_000 },
  );
  if (out.status !== 0) throw new Error(`the Java producer failed (${codec}): ${out.stderr}`);
}

/**
 * kafkajs reads only gzip by itself; Java, librdkafka and Go producers often write Snappy, LZ4 or
 * zstd (and a topic's compression.type makes the broker store it so). Every codec Kafka has, as
 * Kafka's own Java producer writes it, must come through whole.
 */
describe('compressed record batches', () => {
  it('stores every record of gzip, snappy, lz4 and zstd topics written by the Java producer', async () => {
    const brokers = env.kafkaBrokers!;
    const topics = Object.fromEntries(CODECS.map((c) => [c, uniqueName(`codec_${c}`)]));
    for (const codec of CODECS) {
      const topic = topics[codec]!;
      await createTopic(brokers, topic, 1);
      const lines = Array.from({ length: PER_TOPIC }, (_, n) =>
        JSON.stringify({ user: `u${n % 37}`, n, note: 'x'.repeat(n % 200) }),
      );
      javaProduce(brokers, topic, codec, lines);
    }
    const db = 'compression';
    const config = validateConfig({
      kafka: { brokers: [brokers], groupId: uniqueName('g') },
      sources: [{ topics: Object.values(topics) }],
      output: {
        database: db,
        table: 'events',
        columns: [
          { name: 'user', type: 'String' },
          { name: 'n', type: 'UInt32' },
          { name: 'note', type: 'String' },
        ],
      },
      storage: { path: join(dir, 'chdb'), flushIntervalMs: 200 },
      http: { enabled: false },
    });
    const pipeline = createPipeline(config, { logger: createLogger({ level: 'warn', destination: 2 }) });
    await pipeline.start();
    try {
      await waitFor(
        'every record stored',
        async () =>
          (await counterValue(pipeline.telemetry.recordsIn, 'ingestion')) >= CODECS.length * PER_TOPIC &&
          (await pipeline.source.lag()).size > 0 &&
          [...(await pipeline.source.behind()).values()].every((n) => n === 0n),
        90_000,
      );
    } finally {
      await pipeline.stop(Date.now() + 30_000);
    }
    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      for (const codec of CODECS) {
        // Plain SELECT: a duplicate would show. Offset n holds record n, with its note intact.
        const stored = await rows<{ _offset: string; n: number; note: string }>(
          client,
          `SELECT _offset, n, note FROM ${db}.events WHERE _topic = '${topics[codec]}' ORDER BY _offset`,
        );
        expect(stored.length, codec).toBe(PER_TOPIC);
        const wrong = stored.filter(
          (r, i) => Number(r._offset) !== i || Number(r.n) !== i || r.note.length !== i % 200,
        );
        expect(wrong.slice(0, 3), codec).toEqual([]);
      }
      const dead = await rows<{ n: string }>(client, `SELECT count() AS n FROM ${db}.events_dead_letters`);
      expect(Number(dead[0]!.n)).toBe(0);
    } finally {
      await client.close();
    }
  });
});
