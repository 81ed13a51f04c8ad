import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/index.js';
import { counterValue, createLogger } from '../src/core/index.js';
import { createPipeline } from '../src/pipeline/index.js';
import { createClickHouseClient } from '../src/storage/index.js';
import { rows } from './support/clickhouse.js';
import { services, uniqueName } from './support/env.js';
import { caughtUp, committed, createTopic, produceInOrder, topicEnds, waitFor } from './support/kafka.js';
import { runUntilCaughtUp } from './support/pipeline.js';

const RECORDS = 10_000;
const PARTITIONS = 3;
const env = services();
const chdbDir = mkdtempSync(join(tmpdir(), 'e2e-chdb-'));
afterAll(() => rmSync(chdbDir, { recursive: true, force: true }));

interface Expected {
  event_id: string;
  user_id: string;
  amount: number;
  quantity: number;
  ts: string;
  _key: string;
  /** from the record's Kafka header `source` ($header.source) */
  source: string;
}

/** 10,000 distinct records, keyed by user, spread over the partitions round-robin. */
function generate(): { byPartition: Map<number, Message[]>; expected: Map<string, Expected> } {
  const byPartition = new Map<number, Message[]>();
  const expected = new Map<string, Expected>();
  const offsets = new Array<number>(PARTITIONS).fill(0);
  for (let i = 0; i < RECORDS; i++) {
    const p = i % PARTITIONS;
    const seconds = 1_767_225_600 + i * 7; // 2026-01-01T00:00:00Z + i*7s
    const value = {
      event_id: `e-${i}`,
      user_id: `u-${(i * 7919) % 613}`,
      amount: Math.round(i * 1.37 * 100) / 100,
      quantity: i % 17,
      ts: new Date(seconds * 1000).toISOString(),
      ignored_field: 'not a column',
    };
    const list = byPartition.get(p) ?? [];
    const source = `web-${i % 3}`;
    list.push({ key: value.user_id, value: JSON.stringify(value), headers: { source } });
    byPartition.set(p, list);
    const ts = new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 19);
    expected.set(`${p}/${offsets[p]!++}`, { ...value, ts, _key: value.user_id, source });
  }
  return { byPartition, expected };
}

// Each target also runs one way of threading: records on the main thread, or on two worker threads.
const targets = [
  { name: 'the embedded store (chDB), workers: 0', storage: () => ({ path: chdbDir }), workers: 0 },
  {
    name: 'the ClickHouse server, workers: 2',
    storage: () => ({ url: env.clickhouseUrl }),
    workers: 2,
  },
];

describe.each(targets)('$name', ({ storage, workers }) => {
  it('stores exactly the 10,000 produced records, values included', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('e2e');
    const table = uniqueName('events');
    const groupId = uniqueName('g');
    await createTopic(brokers, topic, PARTITIONS);
    const { byPartition, expected } = generate();
    await produceInOrder(brokers, topic, byPartition);
    // Guard the oracle: the topic holds exactly what we think we produced.
    expect([...(await topicEnds(brokers, topic)).values()].reduce((a, b) => a + b, 0n)).toBe(BigInt(RECORDS));

    const config = validateConfig({
      kafka: { brokers: [brokers], groupId, partitionsConsumedConcurrently: PARTITIONS },
      sources: [{ topics: [topic], format: 'json' }],
      output: {
        database: 'e2e',
        table,
        columns: [
          { name: 'event_id', type: 'String' },
          { name: 'user_id', type: 'String' },
          { name: 'amount', type: 'Float64' },
          { name: 'quantity', type: 'UInt16' },
          { name: 'ts', type: 'DateTime' },
          { name: 'source', type: 'String', field: '$header.source' },
        ],
      },
      storage: storage(),
      workers,
      log: { level: 'warn' },
    });
    const pipeline = createPipeline(config, { logger: createLogger({ level: 'warn', destination: 2 }) });
    await pipeline.start();
    try {
      await waitFor('all offsets committed', () => caughtUp(brokers, groupId, topic), 120_000, 500);
    } finally {
      await pipeline.stop(Date.now() + 30_000);
    }
    // What the pipeline itself inserted: the current engine's ReplacingMergeTree collapses equal keys
    // within one insert (optimize_on_insert), so a duplicate inside a batch would not show in the table.
    const { recordsIn, recordsOut, recordsRejected } = pipeline.telemetry;
    expect(await counterValue(recordsIn, 'ingestion')).toBe(RECORDS);
    expect(await counterValue(recordsOut, 'storage')).toBe(RECORDS);
    expect(await counterValue(recordsRejected, 'ingestion')).toBe(0);

    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      // Plain SELECT, not FINAL: a duplicate would show up here.
      const stored = await rows<Record<string, unknown>>(
        client,
        `SELECT _topic, _partition, _offset, _key, event_id, user_id, amount, quantity, toString(ts) AS ts,
                source
         FROM e2e.${table}`,
      );
      const dead = await rows(client, `SELECT count() AS n FROM e2e.${table}_dead_letters`);
      expect(Number((dead[0] as { n: unknown }).n)).toBe(0);
      expect(stored.length).toBe(RECORDS);
      const actual = new Map<string, Expected>();
      for (const r of stored) {
        expect(r._topic).toBe(topic);
        const pos = `${r._partition}/${r._offset}`;
        expect(actual.has(pos), `duplicate row at ${pos}`).toBe(false);
        actual.set(pos, {
          event_id: r.event_id as string,
          user_id: r.user_id as string,
          amount: r.amount as number,
          quantity: Number(r.quantity),
          ts: r.ts as string,
          _key: r._key as string,
          source: r.source as string,
        });
      }
      const missing = [...expected.keys()].filter((k) => !actual.has(k));
      expect(missing, 'positions produced but not stored').toEqual([]);
      for (const [pos, want] of expected) {
        const { ignored_field: _ignored, ...wantColumns } = want as Expected & { ignored_field?: string };
        expect(actual.get(pos), `row at ${pos}`).toEqual(wantColumns);
      }
    } finally {
      await client.close();
    }
  });
  it("stores each source's records in the source's own table, and both sources' dead letters in one", async () => {
    const brokers = env.kafkaBrokers!;
    const [ordersTopic, clicksTopic] = [uniqueName('orders'), uniqueName('clicks')];
    const [orders, clicks, rejects] = [uniqueName('orders'), uniqueName('clicks'), uniqueName('rejects')];
    const groupId = uniqueName('g');
    for (const t of [ordersTopic, clicksTopic]) await createTopic(brokers, t, 2);
    const list = (n: number, value: (i: number) => unknown) =>
      new Map(
        [0, 1].map((p) => [
          p,
          Array.from({ length: n }, (_, i) => ({ value: JSON.stringify(value(2 * i + p)) })),
        ]),
      );
    await produceInOrder(
      brokers,
      ordersTopic,
      list(150, (i) => ({ id: `o${i}`, amount: i / 4 })),
    );
    // Click 7 has no url: refused by its own table's columns (orders have no url, and are not refused for it).
    await produceInOrder(
      brokers,
      clicksTopic,
      list(100, (i) => (i === 7 ? { ms: i } : { url: `/p${i}`, ms: i })),
    );

    const config = validateConfig({
      kafka: { brokers: [brokers], groupId, partitionsConsumedConcurrently: 4 },
      sources: [
        {
          topics: [ordersTopic],
          output: {
            table: orders,
            columns: [
              { name: 'id', type: 'String' },
              { name: 'amount', type: 'Float64' },
            ],
          },
        },
        {
          topics: [clicksTopic],
          output: {
            table: clicks,
            columns: [
              { name: 'url', type: 'String' },
              { name: 'ms', type: 'UInt32' },
            ],
          },
        },
      ],
      output: { database: 'e2e' },
      deadLetters: { table: rejects },
      storage: storage(),
      workers,
      log: { level: 'warn' },
    });
    await runUntilCaughtUp(config, [ordersTopic, clicksTopic]);
    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      const stored = await rows<{ _topic: string; id: string; amount: number }>(
        client,
        `SELECT _topic, id, amount FROM e2e.${orders}`,
      );
      expect(stored.length).toBe(300);
      expect(new Set(stored.map((r) => r._topic))).toEqual(new Set([ordersTopic]));
      expect(stored.find((r) => r.id === 'o201')?.amount).toBe(50.25);
      const clicked = await rows<{ _topic: string; url: string; ms: number }>(
        client,
        `SELECT _topic, url, ms FROM e2e.${clicks} ORDER BY ms`,
      );
      expect(clicked.map((r) => r.ms)).toEqual(
        Array.from({ length: 200 }, (_, i) => i).filter((i) => i !== 7),
      );
      expect(new Set(clicked.map((r) => r._topic))).toEqual(new Set([clicksTopic]));
      const dead = await rows<{ _topic: string; reason: string }>(
        client,
        `SELECT _topic, reason FROM e2e.${rejects}`,
      );
      expect(dead).toEqual([
        { _topic: clicksTopic, reason: "field 'url': is missing (column url String is not Nullable)" },
      ]);
    } finally {
      await client.close();
    }
  });

  it('stopped mid-stream, stores what it committed; a second run stores the rest, each record once', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('e2e_stop');
    const table = uniqueName('stopped');
    const groupId = uniqueName('g');
    await createTopic(brokers, topic, PARTITIONS);
    // About 4 MiB a partition, more than one fetch (1 MiB a partition) takes.
    const perPartition = 20_000;
    const pad = 'x'.repeat(180);
    await produceInOrder(
      brokers,
      topic,
      new Map(
        Array.from({ length: PARTITIONS }, (_, p) => [
          p,
          Array.from({ length: perPartition }, (_, i) => ({
            value: JSON.stringify({ event_id: `${p}-${i}`, pad }),
          })),
        ]),
      ),
    );
    const total = PARTITIONS * perPartition;
    const config = validateConfig({
      kafka: { brokers: [brokers], groupId, partitionsConsumedConcurrently: PARTITIONS },
      sources: [{ topics: [topic], format: 'json' }],
      output: { database: 'e2e', table, columns: [{ name: 'event_id', type: 'String' }] },
      storage: storage(),
      workers,
      log: { level: 'warn' },
    });
    const logger = createLogger({ level: 'warn', destination: 2 });
    const first = createPipeline(config, { logger });
    await first.start();
    // Stop as soon as a batch is taken, with most of the topic still to fetch. (The drain loop that
    // spun at this point when storage was idle is tested in src/ingestion/kafkaSource.test.ts: the
    // timing here does not reach it every time.)
    await waitFor(
      'a batch taken',
      async () => (await counterValue(first.telemetry.recordsIn, 'ingestion')) > 0,
      60_000,
      1,
    );
    const stopping = Date.now();
    await first.stop(Date.now() + 20_000);
    // Leaving the group waits for the fetch in flight, which the broker holds up to fetchMaxWaitMs
    // (500 by default; kafkajs's own 5,000 made this at least 5 s).
    expect(Date.now() - stopping).toBeLessThan(4_500);
    const taken = await counterValue(first.telemetry.recordsIn, 'ingestion');
    const stored = await counterValue(first.telemetry.recordsOut, 'storage');
    expect(taken).toBeLessThan(total); // stopped mid-stream
    expect(stored).toBe(taken); // what was handed out before the stop, stored before it returned

    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      const positions = async () =>
        new Set(
          (
            await rows<{ p: number; o: string }>(
              client,
              `SELECT _partition AS p, toString(_offset) AS o FROM e2e.${table}`,
            )
          ).map((r) => `${r.p}/${r.o}`),
        );
      // Everything the group committed is stored.
      const before = await positions();
      for (const [p, end] of await committed(brokers, groupId, topic)) {
        for (let o = 0n; o < end; o++)
          expect(before.has(`${p}/${o}`), `committed ${p}/${o} not stored`).toBe(true);
      }
      await runUntilCaughtUp(config, [topic]);
      const [all] = await rows<{ n: string; distinct: string }>(
        client,
        `SELECT count() AS n, uniqExact(_partition, _offset) AS distinct FROM e2e.${table}`,
      );
      expect(Number(all!.distinct)).toBe(total);
      expect(Number(all!.n), 'rows, duplicates included').toBe(total);
    } finally {
      await client.close();
    }
  });
});
