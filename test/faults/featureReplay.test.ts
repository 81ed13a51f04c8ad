import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rows } from '../support/clickhouse.js';
import { services, uniqueName } from '../support/env.js';
import { createTopic, kafkaClient, waitFor } from '../support/kafka.js';
import {
  metricValue,
  serverClient,
  startPipelineProcess,
  writePipeline,
  type PipelineProcess,
} from '../support/processes.js';

const env = services();
const PARTITIONS = 3;
const PER_SECOND = 1500;
const SECONDS = 16;
const BASE = Date.UTC(2026, 0, 1);

/** Deterministic events by index: event time advances 20 ms a record, with jitter and some late ones. */
function event(i: number) {
  const jitter = ((i * 7919) % 2000) - 1000;
  const late = i % 211 === 100 ? -20_000 : 0;
  return {
    // 200 users: a partition's closed 5 s bucket holds more windows than a batch lets leave, so
    // crashes also fall while closed windows are still being written
    user: `u${(i * 31) % 200}`,
    // bursts of 5 records; an entity comes back every 2.5 s of event time, so sessions both end and merge
    sess: `s${Math.floor(i / 5) % 25}`,
    amount: ((i * 37) % 1000) / 10,
    ts: new Date(BASE + i * 20 + jitter + late).toISOString(),
  };
}

async function produce(brokers: string, topic: string): Promise<number> {
  const producer = kafkaClient(brokers).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let i = 0;
  try {
    for (let s = 0; s < SECONDS; s++) {
      const t0 = Date.now();
      const messages = [];
      for (let k = 0; k < PER_SECOND; k++, i++)
        messages.push({ partition: i % PARTITIONS, key: null, value: JSON.stringify(event(i)) });
      await producer.send({ topic, acks: -1, messages });
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t0))));
    }
  } finally {
    await producer.disconnect();
  }
  return i;
}

function pipelineDoc(brokers: string, clickhouseUrl: string, topic: string, database: string) {
  return {
    kafka: {
      brokers: [brokers],
      groupId: uniqueName('g'),
      partitionsConsumedConcurrently: PARTITIONS,
      sessionTimeoutMs: 6000,
    },
    sources: [{ topics: [topic] }],
    output: { database, table: 'events', columns: [{ name: 'user', type: 'String' }] },
    features: [
      {
        name: 'user_5s',
        entity: 'user',
        eventTime: 'ts',
        window: { type: 'tumbling', size: '5s' },
        outOfOrderness: '1s',
        allowedLateness: '2s',
        // Production pauses at most about 1 s between sends: only the end of the stream is idle.
        idleTimeout: '5s',
        aggregations: [
          { name: 'events', fn: 'count' },
          { name: 'revenue', fn: 'sum', field: 'amount' },
          { name: 'sd_amount', fn: 'stddev', field: 'amount' },
          { name: 'max_amount', fn: 'max', field: 'amount' },
          { name: 'first_amount', fn: 'first', field: 'amount' },
        ],
      },
      {
        name: 'user_hop',
        entity: 'user',
        eventTime: 'ts',
        window: { type: 'hopping', size: '10s', step: '5s' },
        idleTimeout: '5s',
        aggregations: [{ name: 'events', fn: 'count' }],
      },
      {
        name: 'sessions',
        entity: 'sess',
        eventTime: 'ts',
        window: { type: 'session', gap: '3s' },
        outOfOrderness: '1s',
        allowedLateness: '1s',
        idleTimeout: '5s',
        aggregations: [
          { name: 'events', fn: 'count' },
          { name: 'revenue', fn: 'sum', field: 'amount' },
          { name: 'first_amount', fn: 'first', field: 'amount' },
          { name: 'last_amount', fn: 'last', field: 'amount' },
          { name: 'users', fn: 'approx_count_distinct', field: 'user' },
        ],
      },
    ],
    storage: { url: clickhouseUrl, flushIntervalMs: 300, retryMaxDelayMs: 1000 },
    http: { port: 0, host: '127.0.0.1' },
  };
}

const FEATURE_COLUMNS = {
  user_5s:
    'entity, window_start, window_end, source_partition, events, revenue, sd_amount, max_amount, first_amount, record_count, version',
  user_hop: 'entity, window_start, window_end, source_partition, events, record_count, version',
  sessions:
    'entity, window_start_ms, window_end_ms, source_partition, events, revenue, first_amount, last_amount, users, record_count, version',
};

describe('feature replay after crashes', () => {
  it('SIGKILL mid-stream three times: the stored feature rows equal those of an uninterrupted run', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('replay');
    await createTopic(brokers, topic, PARTITIONS);
    const dir = mkdtempSync(join(tmpdir(), 'replay-'));
    const killedDb = uniqueName('killed');
    const cleanDb = uniqueName('clean');
    const killedConfig = writePipeline(
      dir,
      'killed.yaml',
      pipelineDoc(brokers, env.clickhouseUrl!, topic, killedDb),
    );
    const cleanConfig = writePipeline(
      dir,
      'clean.yaml',
      pipelineDoc(brokers, env.clickhouseUrl!, topic, cleanDb),
    );
    const client = serverClient(env.clickhouseUrl!);
    let proc: PipelineProcess | undefined;
    const producing = produce(brokers, topic);
    try {
      for (let kill = 1; kill <= 3; kill++) {
        proc = await startPipelineProcess(killedConfig);
        // Let it consume and store some windows, then crash it.
        await waitFor(
          'records consumed',
          async () =>
            metricValue(await proc!.metrics(), 'megaservice_records_in_total{module="ingestion"}') >= 2000,
          60_000,
          100,
        );
        await new Promise((r) => setTimeout(r, 300 * kill));
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
      const total = await producing;
      proc = await startPipelineProcess(killedConfig);
      const clean = await startPipelineProcess(cleanConfig);
      const done = async (p: PipelineProcess, db: string) => {
        // Consumed to the end once the raw events table holds every position (FINAL: replays collapse).
        // Then the idle timeout closes every window still open, and the buffer empties.
        const [r] = await rows<{ n: string }>(client, `SELECT count() AS n FROM ${db}.events FINAL`);
        const metrics = await p.metrics();
        const open = Object.keys(FEATURE_COLUMNS).flatMap((fs) => [
          metricValue(metrics, `megaservice_open_windows{feature_set="${fs}"}`),
          metricValue(metrics, `megaservice_closed_windows{feature_set="${fs}"}`),
        ]);
        return (
          Number(r!.n) >= total &&
          open.every((n) => n === 0) &&
          metricValue(metrics, 'megaservice_buffer_rows') === 0
        );
      };
      await waitFor(
        'both runs at the end of the stream',
        async () => (await done(proc!, killedDb)) && (await done(clean, cleanDb)),
        120_000,
        500,
      );
      for (const p of [proc, clean]) p.child.kill('SIGTERM');
      for (const p of [proc, clean]) expect((await p.exited).code, p.output()).toBe(0);

      for (const [table, columns] of Object.entries(FEATURE_COLUMNS)) {
        const q = (db: string) => `SELECT ${columns} FROM ${db}.${table} FINAL ORDER BY ${columns}`;
        const killed = await rows(client, q(killedDb));
        const uninterrupted = await rows(client, q(cleanDb));
        expect(uninterrupted.length, `${table}: rows`).toBeGreaterThan(100);
        if (table === 'sessions') {
          const longer = uninterrupted.filter((r) => Number((r as { events: unknown }).events) > 2);
          expect(
            longer.length,
            'sessions spanning bursts (a burst puts at most 2 records on a partition)',
          ).toBeGreaterThan(10);
        }
        expect(killed, `${table}: killed run vs uninterrupted run`).toEqual(uninterrupted);
      }
      const late = (db: string) =>
        `SELECT _partition, _offset, reason FROM ${db}.events_dead_letters FINAL ORDER BY _partition, _offset, reason`;
      expect(await rows(client, late(killedDb))).toEqual(await rows(client, late(cleanDb)));
    } finally {
      if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      await producing.catch(() => undefined);
      await client.close();
    }
  });
});
