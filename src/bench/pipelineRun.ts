import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { outputPlan, validateConfig, type PipelineConfig } from '../config/index.js';
import { counterValue, createLogger } from '../core/index.js';
import { createPipeline, THREAD_CPU_METRIC, type Pipeline } from '../pipeline/index.js';
import { processThreadSeconds, type CpuSpan } from './cpu.js';
import { SCHEMA } from './data.js';

export const OUTPUT_COLUMNS = [
  { name: 'event_id', type: 'String' },
  { name: 'user_id', type: 'String' },
  { name: 'event_type', type: 'String' },
  { name: 'country', type: 'String' },
  { name: 'amount', type: 'Float64' },
  { name: 'quantity', type: 'UInt16' },
  { name: 'ts', type: 'DateTime' },
];

/** C: the full pipeline with two windowed feature sets. */
export function benchConfig(opts: {
  brokers: string;
  topic: string;
  format: 'json' | 'avro';
  database: string;
  store: { url: string } | { path: string };
  schemaDir: string;
  partitions: number;
  workers?: number | 'auto';
}): PipelineConfig {
  const schemaFile = join(opts.schemaDir, 'bench.avsc');
  writeFileSync(schemaFile, JSON.stringify(SCHEMA));
  return validateConfig(
    {
      kafka: {
        brokers: [opts.brokers],
        groupId: `bench-c-${Date.now()}-${Math.random()}`,
        partitionsConsumedConcurrently: opts.partitions,
      },
      sources: [
        opts.format === 'json'
          ? { topics: [opts.topic], format: 'json' }
          : { topics: [opts.topic], format: 'avro', avro: { schemaFile: 'bench.avsc' } },
      ],
      output: { database: opts.database, table: 'events', columns: OUTPUT_COLUMNS },
      features: [
        {
          name: 'user_1m',
          entity: 'user_id',
          eventTime: 'ts',
          window: { type: 'tumbling', size: '1m' },
          outOfOrderness: '5s',
          aggregations: [
            { name: 'events', fn: 'count' },
            { name: 'revenue', fn: 'sum', field: 'amount' },
            { name: 'avg_amount', fn: 'avg', field: 'amount' },
            { name: 'countries', fn: 'count_distinct', field: 'country' },
          ],
        },
        {
          name: 'type_5m',
          entity: 'event_type',
          eventTime: 'ts',
          window: { type: 'hopping', size: '5m', step: '1m' },
          aggregations: [
            { name: 'events', fn: 'count' },
            { name: 'revenue', fn: 'sum', field: 'amount' },
          ],
        },
      ],
      storage: { ...opts.store },
      workers: opts.workers ?? 'auto',
      http: { enabled: false },
      log: { level: 'warn' },
    },
    {},
    join(opts.schemaDir, 'bench.yaml'),
  );
}

export async function startPipeline(config: PipelineConfig): Promise<Pipeline> {
  const pipeline = createPipeline(config, { logger: createLogger({ level: 'warn', destination: 2 }) });
  await pipeline.start();
  return pipeline;
}

/** Waits until the pipeline has consumed `count` records and stored them all. */
export async function drained(pipeline: Pipeline, count: number, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const consumed = await counterValue(pipeline.telemetry.recordsIn, 'ingestion');
    const buffer = pipeline.sink.buffer();
    if (consumed >= count && buffer.rows === 0 && buffer.inFlight === 0 && buffer.batches === 0) return;
    if (Date.now() > deadline) throw new Error(`pipeline did not drain: ${consumed}/${count} consumed`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Where C's CPU went, in seconds, by thread: the main thread (kafkajs, the ClickHouse client, the
 * hand-outs), the lane worker threads (the per-record work), Node's other threads (V8's garbage
 * collection and compilation; libuv's pool, where chDB runs the embedded store's inserts), and the
 * rest of the process (the threads chDB's engine starts: merges, parts of queries).
 */
export type ThreadSeconds = {
  main: number;
  laneWorkers: number;
  v8AndLibuv: number;
  other: number;
};

/** The process's CPU and the pipeline's threads' (its thread CPU metric), at one moment. */
async function threadReading(pipeline: Pipeline) {
  const metric = pipeline.telemetry.registry.getSingleMetric(THREAD_CPU_METRIC);
  let main = 0;
  let laneWorkers = 0;
  for (const v of (await metric?.get())?.values ?? []) {
    if (v.labels.thread === 'main') main += v.value;
    else laneWorkers += v.value;
  }
  return { main, laneWorkers, ...processThreadSeconds() };
}

/**
 * C's throughput over a pre-filled topic: records per second from start to all stored, the
 * feature rows it wrote (windows still open at the end hold theirs), and its CPU by thread.
 */
export async function fullPipeline(
  config: PipelineConfig,
  count: number,
  sampleRss: () => void,
  cpu?: CpuSpan,
): Promise<{
  rate: number;
  featureRows: number;
  inserts: { output: number; features: number };
  threads: ThreadSeconds;
}> {
  const pipeline = await startPipeline(config);
  const sampler = setInterval(sampleRss, 100);
  try {
    // From the group assignment, as A is (joining the group and creating tables are not throughput).
    while (pipeline.source.assigned().length === 0) await new Promise((r) => setTimeout(r, 1));
    const started = performance.now();
    cpu?.begin();
    const from = await threadReading(pipeline);
    await drained(pipeline, count);
    cpu?.end(count);
    const rate = count / ((performance.now() - started) / 1000);
    const to = await threadReading(pipeline);
    const main = to.main - from.main;
    const laneWorkers = to.laneWorkers - from.laneWorkers;
    const node = to.node - from.node;
    const threads = {
      main,
      laneWorkers,
      v8AndLibuv: Math.max(0, node - main - laneWorkers),
      other: Math.max(0, to.process - from.process - node),
    };
    const { values } = await pipeline.telemetry.featureRows.get();
    const tables = cTables(config);
    const inserts = { output: 0, features: 0 };
    for (const v of (await pipeline.telemetry.inserts.get()).values) {
      if (v.labels.table === tables.output) inserts.output += v.value;
      else if (tables.features.includes(String(v.labels.table))) inserts.features += v.value;
    }
    return { rate, featureRows: values.reduce((n, v) => n + v.value, 0), inserts, threads };
  } finally {
    clearInterval(sampler);
    await pipeline.stop(Date.now() + 30_000);
  }
}

/** C's tables, as `database.table`: its output table, dead letters, and one per feature set. */
function cTables(config: PipelineConfig) {
  const plan = outputPlan(config)!;
  const at = (table: string) => `${plan.database}.${table}`;
  return {
    database: plan.database,
    output: at(plan.tables[0]!.table),
    deadLetters: at(plan.deadLetterTable),
    features: config.features.map((fs) => at(fs.name)),
  };
}

/**
 * Rows in one of the pipeline's tables (all ReplacingMergeTree) as a query with FINAL sees them: a
 * row stored twice under one key (an insert retried where the store keeps no tokens) counts once.
 */
async function countFinal(client: ClickHouseClient, table: string): Promise<number> {
  const result = await client.query({
    query: `SELECT count() AS n FROM ${table} FINAL`,
    format: 'JSONEachRow',
  });
  return Number((await result.json<{ n: string | number }>())[0]!.n);
}

/**
 * What C left in the store, checked against what it reports: every record in the output table, none
 * dead-lettered, and the feature rows it counted. A pipeline that lost rows would otherwise only
 * look faster; the run stops with what differs.
 */
export async function verifyStored(
  client: ClickHouseClient,
  config: PipelineConfig,
  expected: { records: number; featureRows: number },
): Promise<void> {
  const tables = cTables(config);
  const stored = await countFinal(client, tables.output);
  const dead = await countFinal(client, tables.deadLetters);
  let features = 0;
  for (const table of tables.features) features += await countFinal(client, table);
  const wrong = [
    ...(stored !== expected.records ? [`${stored} of ${expected.records} records stored`] : []),
    ...(dead !== 0 ? [`${dead} dead-lettered`] : []),
    ...(features !== expected.featureRows
      ? [`${features} feature rows stored, ${expected.featureRows} counted`]
      : []),
  ];
  if (wrong.length > 0) throw new Error(`C in ${tables.database}: ${wrong.join('; ')}`);
}
