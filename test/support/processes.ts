import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { stringify } from 'yaml';
import { expect } from 'vitest';
import { ENV_OVERRIDES } from '../../src/config/index.js';
import { startCli, type Running } from './cli.js';
import { kafkaClient, waitFor } from './kafka.js';
import { rows } from './clickhouse.js';

/** The variables the config loader reads, unset, so the pipeline file alone decides. */
export const noOverrides = Object.fromEntries(ENV_OVERRIDES.map((o) => [o.variable, undefined]));

export function writePipeline(dir: string, name: string, doc: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, stringify(doc));
  return path;
}

/** A pipeline file for fault tests: JSON events into the ClickHouse server, quick flushes and probes. */
export function faultPipeline(opts: {
  brokers: string;
  clickhouseUrl: string;
  topic: string;
  groupId: string;
  table: string;
  storage?: Record<string, unknown>;
}) {
  return {
    kafka: {
      brokers: [opts.brokers],
      groupId: opts.groupId,
      partitionsConsumedConcurrently: 6,
      sessionTimeoutMs: 6000,
    },
    sources: [{ topics: [opts.topic] }],
    output: {
      database: 'faults',
      table: opts.table,
      columns: [
        { name: 'id', type: 'String' },
        { name: 'n', type: 'UInt64' },
      ],
    },
    storage: {
      url: opts.clickhouseUrl,
      flushIntervalMs: 300,
      batchRows: 5000,
      retryMaxDelayMs: 1000,
      breakerFailures: 3,
      breakerHalfOpenMs: 1000,
      requestTimeoutMs: 5000,
      ...opts.storage,
    },
    http: { port: 0, host: '127.0.0.1' },
    log: { level: 'info' },
  };
}

export interface PipelineProcess extends Running {
  readonly port: number;
  health(): Promise<number>;
  metrics(): Promise<string>;
  /** Resident memory in bytes, from /proc. */
  rss(): number;
}

export async function startPipelineProcess(config: string): Promise<PipelineProcess> {
  const proc = startCli(['run', '--config', config, '--shutdown-timeout', '20000'], noOverrides);
  const port = await waitFor(
    'the observability port in the log',
    async () =>
      Number(/"port":(\d+),"msg":"observability endpoints up"/.exec(proc.output())?.[1]) || undefined,
    20_000,
    100,
  ).catch((err: Error) => {
    proc.child.kill('SIGKILL');
    throw new Error(`${err.message}\n${proc.output()}`);
  });
  return {
    ...proc,
    port,
    health: async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).status,
    metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
    rss: () =>
      Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'))?.[1] ?? 0) *
      1024,
  };
}

export function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Produces `count` JSON records {id, n} over the partitions, `perSecond` at a time; resolves when done. */
export async function produceSteadily(
  brokers: string,
  topic: string,
  count: number,
  perSecond: number,
  partitions: number,
): Promise<void> {
  const producer = kafkaClient(brokers).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let start = 0; start < count; start += perSecond) {
      const t0 = Date.now();
      const messages = [];
      for (let i = start; i < Math.min(count, start + perSecond); i++) {
        messages.push({
          partition: i % partitions,
          key: `k${i}`,
          value: JSON.stringify({ id: `r-${i}`, n: i }),
        });
      }
      await producer.send({ topic, acks: -1, messages });
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t0))));
    }
  } finally {
    await producer.disconnect();
  }
}

export function serverClient(url: string): ClickHouseClient {
  // Quiet: the tests poll tables that the pipeline has not created yet.
  return createClient({ url, request_timeout: 10_000, log: { level: ClickHouseLogLevel.OFF } });
}

export async function countRows(client: ClickHouseClient, table: string): Promise<number> {
  const [r] = await rows<{ n: string }>(client, `SELECT count() AS n FROM faults.${table}`);
  return Number(r!.n);
}

/** With FINAL, each partition holds offsets 0..end-1 once each: exactly the produced records. */
export async function expectExactlyOnce(
  client: ClickHouseClient,
  table: string,
  ends: Map<number, bigint>,
  records: number,
): Promise<void> {
  const final = await storedPositions(client, table, true);
  expect(final.total).toBe(records);
  expect(final.distinct).toBe(records);
  for (const [p, end] of ends)
    expect(final.byPartition.get(p)).toEqual({ count: Number(end), min: 0, max: Number(end) - 1 });
}

/**
 * Exactly once, the way README states it: with FINAL, the stored (partition, offset) set equals the
 * produced one (each partition holds offsets 0..end-1), no more, no less.
 */
export async function storedPositions(
  client: ClickHouseClient,
  table: string,
  final: boolean,
): Promise<{
  total: number;
  distinct: number;
  byPartition: Map<number, { count: number; min: number; max: number }>;
}> {
  const f = final ? ' FINAL' : '';
  const parts = await rows<{ p: number; c: string; d: string; lo: string; hi: string }>(
    client,
    `SELECT _partition AS p, count() AS c, uniqExact(_offset) AS d, min(_offset) AS lo, max(_offset) AS hi
     FROM faults.${table}${f} GROUP BY _partition ORDER BY p`,
  );
  const byPartition = new Map(
    parts.map((r) => [Number(r.p), { count: Number(r.c), min: Number(r.lo), max: Number(r.hi) }]),
  );
  return {
    total: parts.reduce((a, r) => a + Number(r.c), 0),
    distinct: parts.reduce((a, r) => a + Number(r.d), 0),
    byPartition,
  };
}
