import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/index.js';
import { createLogger } from '../src/core/index.js';
import { createClickHouseClient, FORWARD_SOURCE_HEADER } from '../src/storage/index.js';
import { rows } from './support/clickhouse.js';
import { services, uniqueName } from './support/env.js';
import { caughtUp, createTopic, kafkaClient, produceInOrder, topicEnds, waitFor } from './support/kafka.js';
import { runUntilCaughtUp, USER_10S_IDLE } from './support/pipeline.js';
import { startPipelineProcess, writePipeline } from './support/processes.js';

const env = services();
const dir = mkdtempSync(join(tmpdir(), 'forward-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = Date.UTC(2026, 0, 1);
const TRANSFORM = [
  { rename: { amount: 'value' } },
  { derive: { doubled: 'value * 2' } },
  { require: { user: 'string' } },
];
const COLUMNS = [
  { name: 'user', type: 'String' },
  { name: 'value', type: 'Float64' },
  { name: 'doubled', type: 'Float64' },
  { name: 'ts', type: 'DateTime' },
];

/**
 * Every committed message of a topic (read_committed, as kafkajs reads by default), with the value
 * of one of its headers (by default where the pipeline read it).
 */
async function readAll(topic: string, expected: number, header = FORWARD_SOURCE_HEADER) {
  const consumer = kafkaClient(env.kafkaBrokers!).consumer({ groupId: uniqueName('reader') });
  const seen: { value: string; header: string; partition: number }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message, partition }) =>
      void seen.push({
        value: message.value!.toString(),
        header: message.headers![header]!.toString(),
        partition,
      }),
  });
  await waitFor(`${expected} messages read from ${topic}`, async () => seen.length >= expected, 60_000);
  await new Promise((r) => setTimeout(r, 1500)); // any beyond the expected ones would show up too
  await consumer.disconnect();
  return seen;
}

/** The hybrid test's three topics: the input, the one between the halves, and the dead letters. */
async function forwardTopics(prefix: string, partitions: number) {
  const topics = {
    input: uniqueName(`${prefix}_in`),
    middle: uniqueName(`${prefix}_mid`),
    dlq: uniqueName(`${prefix}_dlq`),
  };
  const brokers = env.kafkaBrokers!;
  await Promise.all([
    createTopic(brokers, topics.input, partitions),
    createTopic(brokers, topics.middle, partitions),
    createTopic(brokers, topics.dlq, 1),
  ]);
  return topics;
}

describe('hybrid mode: forward to a topic, extraction and storage in a second deployment', () => {
  it('stores the same rows and feature windows as one deployment, with every record once on the topic', async () => {
    const brokers = env.kafkaBrokers!;
    const { input, middle, dlq } = await forwardTopics('fw', 2);
    const events = (p: number) =>
      Array.from({ length: 1000 }, (_, i) => ({
        key: `u${i % 13}`,
        value: JSON.stringify({
          user: `u${i % 13}`,
          amount: i + p / 10,
          ts: new Date(BASE + i * 40).toISOString(),
        }),
      }));
    await produceInOrder(
      brokers,
      input,
      new Map([
        [0, [...events(0), { key: 'bad', value: '{not json' }]],
        [
          1,
          [
            ...events(1),
            { key: 'bad', value: JSON.stringify({ amount: 1, ts: new Date(BASE).toISOString() }) },
          ],
        ],
      ]),
    );

    const common = {
      kafka: { brokers: [brokers], partitionsConsumedConcurrently: 2 },
      http: { enabled: false },
    };
    // Upstream: ingestion and transformation, forwarding to the middle topic.
    const upstream = validateConfig(
      {
        ...common,
        kafka: { ...common.kafka, groupId: uniqueName('up') },
        sources: [{ topics: [input], transform: TRANSFORM }],
        forward: { topic: middle, transactionalId: uniqueName('tx') },
        deadLetters: { topic: dlq },
      },
      {},
      join(dir, 'up.yaml'),
    );
    await runUntilCaughtUp(upstream, [input]);
    // Downstream: a plain JSON pipeline on the middle topic, with the feature set.
    const downstream = validateConfig(
      {
        ...common,
        kafka: { ...common.kafka, groupId: uniqueName('down') },
        sources: [{ topics: [middle] }],
        // The original position travels in a header: a column can keep it.
        output: {
          database: 'fw_split',
          table: 'events',
          columns: [...COLUMNS, { name: 'source', type: 'String', field: '$header.megaservice.source' }],
        },
        features: [USER_10S_IDLE],
        storage: { path: join(dir, 'chdb'), flushIntervalMs: 200 },
      },
      {},
      join(dir, 'down.yaml'),
    );
    // Reference: the same in one deployment.
    const single = validateConfig(
      {
        ...common,
        kafka: { ...common.kafka, groupId: uniqueName('one') },
        sources: [{ topics: [input], transform: TRANSFORM }],
        output: { database: 'fw_single', table: 'events', columns: COLUMNS },
        features: [USER_10S_IDLE],
        storage: { path: join(dir, 'chdb'), flushIntervalMs: 200 },
      },
      {},
      join(dir, 'one.yaml'),
    );
    const closedWindows = (config: typeof single, topic: string) =>
      runUntilCaughtUp(config, [topic]).then(() => undefined);
    await closedWindows(downstream, middle);
    await closedWindows(single, input);

    const forwarded = await readAll(middle, 2000);
    expect(forwarded.length).toBe(2000);
    expect(new Set(forwarded.map((m) => m.header)).size).toBe(2000);
    // A record stays on its source partition's number, so a lane's order holds.
    for (const m of forwarded) expect(m.header.split('/')[1]).toBe(String(m.partition));
    expect(JSON.parse(forwarded.find((m) => m.header === `${input}/1/7`)!.value)).toEqual({
      user: 'u7',
      value: 7.1,
      doubled: 14.2,
      ts: new Date(BASE + 7 * 40).toISOString(),
    });

    const client = await createClickHouseClient(single.storage, createLogger({ level: 'silent' }));
    try {
      const table = (db: string) =>
        rows<Record<string, unknown>>(
          client,
          `SELECT user, value, doubled, ts FROM ${db}.events ORDER BY user, value`,
        );
      const windows = (db: string) =>
        rows<Record<string, unknown>>(
          client,
          `SELECT entity, window_start, events FROM ${db}.user_10s FINAL ORDER BY entity, window_start`,
        );
      const sources = await rows<{ source: string }>(client, 'SELECT source FROM fw_split.events');
      expect(new Set(sources.map((r) => r.source))).toEqual(new Set(forwarded.map((m) => m.header)));
      const split = await table('fw_split');
      expect(split.length).toBe(2000);
      expect(split).toEqual(await table('fw_single'));
      const splitWindows = await windows('fw_split');
      expect(splitWindows.length).toBeGreaterThan(13);
      expect(splitWindows).toEqual(await windows('fw_single'));
    } finally {
      await client.close();
    }

    // The two bad records went to the dead-letter topic, in the same transactions.
    const reasons = (await readAll(dlq, 2, 'dlq.reason')).map((m) => m.header);
    expect(reasons.sort()).toEqual([
      "field 'user' is required (string) but missing",
      expect.stringMatching(/^invalid JSON: /),
    ]);
  });

  it('writes every record exactly once across a kill -9 and a restart', async () => {
    const brokers = env.kafkaBrokers!;
    const { input, middle, dlq } = await forwardTopics('fw_crash', 3);
    const COUNT = 60_000;
    const perPartition = new Map(
      [0, 1, 2].map((p) => [
        p,
        Array.from({ length: COUNT / 3 }, (_, i) => ({
          value: JSON.stringify({ user: `u${i % 50}`, amount: i, ts: new Date(BASE + i).toISOString() }),
        })),
      ]),
    );
    await produceInOrder(brokers, input, perPartition);
    const groupId = uniqueName('crash');
    const file = writePipeline(dir, 'crash.yaml', {
      kafka: { brokers: [brokers], groupId, partitionsConsumedConcurrently: 3 },
      sources: [{ topics: [input], transform: TRANSFORM }],
      forward: { topic: middle, transactionalId: `${groupId}-tx` },
      deadLetters: { topic: dlq },
      http: { port: 0, host: '127.0.0.1' },
    });
    const first = await startPipelineProcess(file);
    // Killed mid-stream: some transactions committed, likely one open.
    await waitFor(
      'some records forwarded',
      async () => [...(await topicEnds(brokers, middle)).values()].reduce((a, b) => a + b, 0n) > 15_000n,
      60_000,
      50,
    ).catch((err: Error) => {
      first.child.kill('SIGKILL');
      throw new Error(`${err.message}\n${first.output().slice(-3000)}`);
    });
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await caughtUp(brokers, groupId, input)).toBe(false);

    const second = await startPipelineProcess(file);
    try {
      await waitFor(`group ${groupId} caught up`, () => caughtUp(brokers, groupId, input), 120_000, 500);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    const forwarded = await readAll(middle, COUNT);
    expect(forwarded.length).toBe(COUNT);
    expect(new Set(forwarded.map((m) => m.header)).size).toBe(COUNT);
  });
});
