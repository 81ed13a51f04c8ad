import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import type { Message } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/index.js';
import { counterValue } from '../src/core/index.js';
import { DLQ_HEADERS } from '../src/storage/index.js';
import { rows } from './support/clickhouse.js';
import { services, uniqueName } from './support/env.js';
import { createTopic, kafkaClient, produceInOrder, topicEnds, waitFor } from './support/kafka.js';
import { runUntilCaughtUp } from './support/pipeline.js';

const env = services();
const dir = mkdtempSync(join(tmpdir(), 'dlq-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RECORDS = 5000;
const PARTITIONS = 3;

/** Each kind of bad record, the bytes we produce for it, and the reason it must be dead-lettered with. */
const BAD_KINDS = [
  {
    make: (i: number) => `{"event_id": "e-${i}", "user_id": `,
    stage: 'ingestion',
    reason: /^invalid JSON: /,
  },
  {
    make: (i: number) => `["e-${i}"]`,
    stage: 'ingestion',
    reason: 'JSON value is an array, expected an object',
  },
  {
    make: (i: number) => JSON.stringify({ event_id: `e-${i}`, amt: '1', quantity: 1 }),
    stage: 'transformation',
    reason: "field 'user_id' is required (string) but missing",
  },
  {
    make: (i: number) => JSON.stringify({ event_id: `e-${i}`, user_id: 'u1', amt: 'lots', quantity: 1 }),
    stage: 'transformation',
    reason: 'field \'amount\': cannot cast the string "lots" to number',
  },
  {
    make: (i: number) => JSON.stringify({ event_id: `e-${i}`, user_id: 'u1', amt: 2, quantity: 70000 }),
    stage: 'extraction',
    reason: "field 'quantity': 70000 is out of range for UInt16 [0, 65535]",
  },
] as const;

/** Exact text for fixed reasons; a pattern where the reason quotes a parser's own message. */
function reasonMatcher(reason: string | RegExp): unknown {
  return typeof reason === 'string' ? reason : expect.stringMatching(reason);
}

interface Expected {
  bytes: string;
  key: string;
  bad?: (typeof BAD_KINDS)[number];
  row?: Record<string, unknown>;
}

/** 1% of records (every 100th) are bad, cycling through the kinds; the rest are valid events. */
function generate() {
  const byPartition = new Map<number, Message[]>();
  const expected = new Map<string, Expected>();
  const next = new Array<number>(PARTITIONS).fill(0);
  for (let i = 0; i < RECORDS; i++) {
    const p = i % PARTITIONS;
    const key = `k-${i}`;
    let e: Expected;
    if (i % 100 === 99) {
      const bad = BAD_KINDS[Math.floor(i / 100) % BAD_KINDS.length]!;
      e = { bytes: bad.make(i), key, bad };
    } else {
      const user = `u${i % 4}`; // u0..u3; the lookup knows u0..u2
      const amount = (i % 50) + 0.25;
      e = {
        bytes: JSON.stringify({ event_id: `e-${i}`, user_id: user, amt: String(amount), quantity: i % 9 }),
        key,
        row: {
          event_id: `e-${i}`,
          user_id: user,
          amount,
          amount_cents: String(Math.round(amount * 100)),
          currency: 'EUR',
          quantity: i % 9,
          country: { u0: 'NO', u1: 'SE', u2: 'DK' }[user] ?? null,
        },
      };
    }
    byPartition.set(p, [...(byPartition.get(p) ?? []), { key, value: e.bytes }]);
    expected.set(`${p}/${next[p]!++}`, e);
  }
  return { byPartition, expected };
}

describe('a stream with 1% bad records', () => {
  it('stores every good record and dead-letters every bad one, with its reason, to the table and the topic', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('dlq_src');
    const dlqTopic = uniqueName('dlq_out');
    const table = uniqueName('events');
    await createTopic(brokers, topic, PARTITIONS);
    await createTopic(brokers, dlqTopic, 1);
    const { byPartition, expected } = generate();
    await produceInOrder(brokers, topic, byPartition);
    expect([...(await topicEnds(brokers, topic)).values()].reduce((a, b) => a + b, 0n)).toBe(BigInt(RECORDS));

    writeFileSync(join(dir, 'users.csv'), 'user_id,country\nu0,NO\nu1,SE\nu2,DK\n');
    const config = validateConfig(
      {
        kafka: { brokers: [brokers], groupId: uniqueName('g'), partitionsConsumedConcurrently: PARTITIONS },
        sources: [
          {
            topics: [topic],
            transform: [
              { require: { event_id: 'string', user_id: 'string' } },
              { rename: { amt: 'amount' } },
              { cast: { amount: 'number' } },
              { default: { currency: 'EUR' } },
              { derive: { amount_cents: 'round(amount * 100)' } },
              { enrich: { file: 'users.csv', key: 'user_id', missing: 'null' } },
            ],
          },
        ],
        output: {
          database: 'dlq',
          table,
          columns: [
            { name: 'event_id', type: 'String' },
            { name: 'user_id', type: 'String' },
            { name: 'amount', type: 'Float64' },
            { name: 'amount_cents', type: 'Int64' },
            { name: 'currency', type: 'String' },
            { name: 'quantity', type: 'UInt16' },
            { name: 'country', type: 'Nullable(String)' },
          ],
        },
        deadLetters: { topic: dlqTopic },
        storage: { url: env.clickhouseUrl },
        http: { enabled: false },
      },
      {},
      join(dir, 'pipeline.yaml'),
    );
    const pipeline = await runUntilCaughtUp(config, [topic]);
    const bad = [...expected.values()].filter((e) => e.bad).length;
    expect(bad).toBe(RECORDS / 100);

    const client = createClient({ url: env.clickhouseUrl });
    try {
      const stored = await rows<Record<string, unknown>>(
        client,
        `SELECT _partition, _offset, event_id, user_id, amount, amount_cents, currency, quantity, country FROM dlq.${table}`,
      );
      const dead = await rows<Record<string, unknown>>(
        client,
        `SELECT _partition, _offset, _key, stage, reason, value FROM dlq.${table}_dead_letters`,
      );
      // produced = stored + dead-lettered, exactly: every position once, in one of the two tables.
      const seen = new Map<string, string>();
      for (const r of [
        ...stored.map((x) => ['stored', x] as const),
        ...dead.map((x) => ['dead', x] as const),
      ]) {
        const pos = `${r[1]._partition}/${r[1]._offset}`;
        expect(seen.get(pos), `position ${pos} twice`).toBeUndefined();
        seen.set(pos, r[0]);
      }
      expect(seen.size).toBe(RECORDS);
      expect(stored.length).toBe(RECORDS - bad);
      expect(dead.length).toBe(bad);

      for (const r of stored) {
        const { _partition, _offset, ...values } = r;
        const e = expected.get(`${_partition}/${_offset}`)!;
        expect(e.row, `${_partition}/${_offset} should have been dead-lettered`).toBeDefined();
        expect({ ...values, quantity: Number(values.quantity) }).toEqual(e.row);
      }
      for (const d of dead) {
        const e = expected.get(`${d._partition}/${d._offset}`)!;
        expect(e.bad, `${d._partition}/${d._offset} should have been stored`).toBeDefined();
        expect([d.stage, d.reason, d.value, d._key]).toEqual([
          e.bad!.stage,
          reasonMatcher(e.bad!.reason),
          e.bytes,
          e.key,
        ]);
      }
    } finally {
      await client.close();
    }

    // The dead-letter topic holds the same records: original bytes, and headers naming why and whence.
    const fromTopic = new Map<string, { key: string; value: string; headers: Record<string, string> }>();
    const consumer = kafkaClient(brokers).consumer({ groupId: uniqueName('dlq-reader') });
    await consumer.connect();
    await consumer.subscribe({ topic: dlqTopic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
        );
        fromTopic.set(
          `${headers[DLQ_HEADERS.topic]}:${headers[DLQ_HEADERS.partition]}/${headers[DLQ_HEADERS.offset]}`,
          {
            key: String(message.key),
            value: String(message.value),
            headers,
          },
        );
      },
    });
    try {
      await waitFor(`${bad} messages on ${dlqTopic}`, async () => fromTopic.size >= bad, 30_000);
    } finally {
      await consumer.disconnect();
    }
    expect(fromTopic.size).toBe(bad);
    for (const [pos, e] of expected) {
      if (!e.bad) continue;
      const m = fromTopic.get(`${topic}:${pos}`);
      expect(m, `${pos} missing from the dead-letter topic`).toBeDefined();
      expect([m!.key, m!.value, m!.headers[DLQ_HEADERS.stage]]).toEqual([e.key, e.bytes, e.bad.stage]);
      expect(m!.headers[DLQ_HEADERS.reason]).toEqual(reasonMatcher(e.bad.reason));
    }

    expect(await counterValue(pipeline.telemetry.recordsIn, 'ingestion')).toBe(RECORDS);
    expect(await counterValue(pipeline.telemetry.recordsOut, 'storage')).toBe(RECORDS - bad);
  });
});
