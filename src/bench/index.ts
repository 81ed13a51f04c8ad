#!/usr/bin/env node
import { mkdirSync, mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { resolveWorkers } from '../pipeline/index.js';
import {
  createTableSql,
  defaultInsertSettings,
  defaultTableSettings,
  detectCapabilities,
  outputTableSpec,
  rowBinaryInserter,
} from '../storage/index.js';
import { bareConsumer, bareInserts } from './baselines.js';
import { createCpuMeter, cpuSpan, perUnit, quietMachine } from './cpu.js';
import { benchClient, cleanUp, created, residentFromFiles, ROOT, services, settle } from './environment.js';
import { prefill } from './data.js';
import { createLiveTopic, latencyPercentiles, produceAtRateApart } from './live.js';
import {
  benchConfig,
  drained,
  fullPipeline,
  OUTPUT_COLUMNS,
  startPipeline,
  verifyStored,
  type ThreadSeconds,
} from './pipelineRun.js';
import { writeReport, type BenchResult } from './report.js';
import { memoryThroughStall } from './stall.js';

const PARTITIONS = 6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** CPU seconds by thread over `records`, as µs a record. */
const perRecordUs = <T extends Record<string, number>>(seconds: T, records: number) =>
  Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, (v * 1e6) / records])) as T;
const uid = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

const opts = new Command('bench')
  .option('--quick', 'a short run for development (under 2 minutes)', false)
  .option('--records <n>', 'records per pre-filled topic')
  .option('--repeats <n>', 'alternating repeats of A, B, C, median reported (default 5, 3 with --quick)')
  .option('--stores <list>', 'embedded,server')
  .option('--out <dir>', 'where results go', join(ROOT, 'bench/results'))
  .option('--workers <n>', "C's worker threads: auto or a number (0: the main thread only)", 'auto')
  .parse(process.argv)
  .opts<{
    quick: boolean;
    records?: string;
    repeats?: string;
    stores?: string;
    out: string;
    workers: string;
  }>();

const quick = opts.quick;
const workers = opts.workers === 'auto' ? 'auto' : Number(opts.workers);
const records = Number(opts.records ?? (quick ? 40_000 : 1_000_000));
// Five by default: one scenario's repeats spread by up to 0.15 in C/A on these shared cores, and the
// median of five moves less with one odd repeat than the median of three.
const repeats = Math.max(1, Number(opts.repeats ?? (quick ? 3 : 5)));
// The server first: its memory figures are then the pipeline's own, before chDB's engine loads into
// this process for the embedded runs.
const stores = (opts.stores ?? (quick ? 'embedded' : 'server,embedded')).split(',') as (
  'embedded' | 'server'
)[];
const loadSeconds = quick ? 6 : 30;
/** Seconds of live load before latency and memory are measured (see the latency scenario). */
const warmupSeconds = quick ? 2 : 5;
const stallSeconds = quick ? 8 : 60;

let peakRss = 0;
/** The highest resident memory sampled while C ran at full speed, for the current store. */
let cPeakRss = 0;
const sampleRss = () => {
  const rss = process.memoryUsage().rss;
  peakRss = Math.max(peakRss, rss);
  cPeakRss = Math.max(cPeakRss, rss);
};

async function main() {
  const svc = await services();
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  try {
    await measure(svc, dir);
  } finally {
    await cleanUp(svc.brokers, svc.clickhouseUrl, dir).catch((err: unknown) =>
      process.stderr.write(`[bench] clean-up failed (topics and tables may be left): ${String(err)}\n`),
    );
  }
}

async function measure(svc: { brokers: string; clickhouseUrl: string; where: string }, dir: string) {
  const chdbPath = join(dir, 'chdb'); // chDB binds one data directory per process: one for every run
  const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
  log(
    `${records} records per topic, ${repeats} repeats, stores: ${stores.join(', ')}${quick ? ' (quick)' : ''}`,
  );

  const topics = { json: `bench_json_${uid()}`, avro: `bench_avro_${uid()}` };
  created.topics.push(topics.json, topics.avro);
  const sizes = {
    json: (await prefill(svc.brokers, topics.json, records, PARTITIONS, 'json')).bytes / records,
    avro: (await prefill(svc.brokers, topics.avro, records, PARTITIONS, 'avro')).bytes / records,
  };
  log(`pre-filled: JSON ${sizes.json.toFixed(0)} B/record, Avro ${sizes.avro.toFixed(0)} B/record`);

  const result: BenchResult & { cpu: NonNullable<BenchResult['cpu']> } = {
    when: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      node: process.version,
      services: svc.where,
      ...(process.env.MALLOC_ARENA_MAX ? { mallocArenaMax: process.env.MALLOC_ARENA_MAX } : {}),
      ...(process.env.MALLOC_MMAP_THRESHOLD_
        ? { mallocMmapThreshold: process.env.MALLOC_MMAP_THRESHOLD_ }
        : {}),
    },
    workers: resolveWorkers(workers),
    settings: { records, repeats, partitions: PARTITIONS, quick, recordBytes: sizes },
    throughput: [],
    latency: [],
    memory: { peakRssMiB: 0, steady: [], catchUpPeak: [] },
    cpu: [],
  };
  const meter = createCpuMeter();
  /** Each A, B and C run starts on a quiet machine (see quietMachine): how long that took. */
  const quietWaits: number[] = [];
  const quietLimitMs = quick ? 5_000 : 20_000;
  const quietThreshold = 0.15;
  let notQuiet = 0;
  const beQuiet = async () => {
    const q = await quietMachine({ maxMs: quietLimitMs, threshold: quietThreshold });
    quietWaits.push(q.waitedMs);
    if (!q.quiet) {
      notQuiet++;
      log(
        `the machine was still ${(q.busy * 100).toFixed(0)}% busy after ${q.waitedMs.toFixed(0)} ms; run started anyway`,
      );
    }
  };

  for (const store of stores) {
    cPeakRss = 0;
    const storage = store === 'embedded' ? { path: chdbPath } : { url: svc.clickhouseUrl };
    const client = await benchClient('url' in storage ? storage.url : undefined, chdbPath);
    const bDb = `bench_b_${uid()}`;
    const server = store === 'server';
    if (server) created.databases.push(bDb);
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${bDb}` });
    const bTable = outputTableSpec(bDb, 'events', OUTPUT_COLUMNS);
    // B's table has the MergeTree settings C's tables get, and B inserts RowBinary as the pipeline
    // does, by the same path (a file for chDB), with the settings C's sink sends by default.
    const caps = await detectCapabilities(client);
    const bTableSettings = defaultTableSettings(caps, !server);
    await client.command({ query: createTableSql(bTable, bTableSettings) });
    const bSettings = defaultInsertSettings(caps);
    (result.settings.bInsertSettings ??= {})[store] = bSettings;
    (result.settings.bTableSettings ??= {})[store] = bTableSettings;
    const insert = rowBinaryInserter(client, {
      url: 'url' in storage ? storage.url : undefined,
      path: chdbPath,
    });
    for (const format of ['json', 'avro'] as const) {
      const a: number[] = [];
      const b: number[] = [];
      const c: number[] = [];
      let featureRows = 0;
      let cInserts = { output: 0, features: 0 };
      const spent = { a: meter.empty(), b: meter.empty(), c: meter.empty() };
      const cThreads: ThreadSeconds = { main: 0, laneWorkers: 0, v8AndLibuv: 0, other: 0 };
      for (let r = 0; r < repeats; r++) {
        await beQuiet();
        a.push(await bareConsumer(svc.brokers, topics[format], records, PARTITIONS, cpuSpan(meter, spent.a)));
        const database = `bench_c_${uid()}`;
        if (server) created.databases.push(database);
        const config = benchConfig({
          brokers: svc.brokers,
          topic: topics[format],
          format,
          database,
          store: storage,
          schemaDir: dir,
          partitions: PARTITIONS,
          workers,
        });
        // B inserts as many rows at a time as C's storage sends at most (its default batchRows).
        result.settings.batchRows = config.storage.batchRows;
        await beQuiet();
        b.push(
          await bareInserts(
            insert,
            `${bDb}.events`,
            records,
            config.storage.batchRows,
            bTable.columns,
            cpuSpan(meter, spent.b),
            bSettings,
          ),
        );
        await beQuiet();
        const run = await fullPipeline(config, records, sampleRss, cpuSpan(meter, spent.c));
        await verifyStored(client, config, { records, featureRows: run.featureRows });
        c.push(run.rate);
        for (const k of Object.keys(cThreads) as (keyof ThreadSeconds)[]) cThreads[k] += run.threads[k];
        featureRows = run.featureRows;
        cInserts = run.inserts;
        log(
          `${store} ${format} repeat ${r + 1}: A ${a[r]!.toFixed(0)}/s, B ${b[r]!.toFixed(0)}/s, C ${c[r]!.toFixed(0)}/s in ${run.inserts.output} + ${run.inserts.features} inserts`,
        );
      }
      const ratiosCA = a.map((x, i) => c[i]! / x);
      const ratiosCB = b.map((x, i) => c[i]! / x);
      result.throughput.push({
        store,
        format,
        a: median(a),
        b: median(b),
        c: median(c),
        cOverA: median(ratiosCA),
        cOverB: median(ratiosCB),
        featureRowsPerRecord: featureRows / records,
        cInserts,
      });
      for (const run of ['a', 'b', 'c'] as const)
        result.cpu.push({
          store,
          format,
          run,
          ...perUnit(spent[run], meter.found),
          ...(run === 'c' ? { threadsUs: perRecordUs(cThreads, records * repeats) } : {}),
        });
    }

    /** A fresh topic and a running pipeline on it (JSON), for the live-traffic measurements. */
    const livePipeline = async (kind: string) => {
      await settle();
      const topic = `bench_${kind}_${uid()}`;
      created.topics.push(topic);
      await createLiveTopic(svc.brokers, topic, PARTITIONS);
      const database = `bench_${kind}_${uid()}`;
      if (server) created.databases.push(database);
      const config = benchConfig({
        brokers: svc.brokers,
        topic,
        format: 'json',
        database,
        store: storage,
        schemaDir: dir,
        partitions: PARTITIONS,
        workers,
      });
      return { topic, config, pipeline: await startPipeline(config) };
    };

    result.memory.catchUpPeak.push({ store, rssMiB: cPeakRss / 1048576 });

    // Latency from event to stored at 50% and 80% of C's rate (JSON).
    const cRate = result.throughput.find((t) => t.store === store && t.format === 'json')!.c;
    for (const load of [0.5, 0.8]) {
      const { topic, config, pipeline } = await livePipeline('live');
      // A warm-up at the same rate first, then latency and resident memory are measured. In the
      // first two seconds every record opens a window and the thread's code is cold: per-second p99
      // was 2.2-2.5 s there and 0.5-1.5 s after, and 1% of 30 s is only 0.3 s.
      let steady = 0;
      let steadyFromFiles = 0;
      let sampler: NodeJS.Timeout | undefined;
      const warm = setTimeout(() => {
        pipeline.telemetry.eventToStoredSeconds.reset();
        sampler = setInterval(() => {
          const rss = process.memoryUsage().rss;
          if (rss <= steady) return;
          steady = rss;
          steadyFromFiles = residentFromFiles();
        }, 100);
      }, warmupSeconds * 1000);
      const sent = await produceAtRateApart(
        svc.brokers,
        topic,
        Math.round(cRate * load),
        warmupSeconds + loadSeconds,
        'json',
      ).finally(() => {
        clearTimeout(warm);
        clearInterval(sampler);
      });
      if (load === 0.5)
        result.memory.steady.push({
          store,
          rssMiB: steady / 1048576,
          fromFilesMiB: steadyFromFiles / 1048576,
        });
      await drained(pipeline, sent);
      const { p50, p99 } = await latencyPercentiles(pipeline);
      await pipeline.stop(Date.now() + 30_000);
      result.latency.push({
        store,
        load,
        rate: Math.round(cRate * load),
        p50Ms: p50,
        p99Ms: p99,
        flushIntervalMs: config.storage.flushIntervalMs,
      });
      log(
        `${store} latency at ${load * 100}% (${Math.round(cRate * load)}/s): p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms`,
      );
    }

    // Resident memory while ClickHouse stalls (server only: the embedded engine cannot be stopped).
    if (server) {
      const { topic, pipeline } = await livePipeline('stall');
      const rate = Math.round(cRate * 0.5);
      const samples = await memoryThroughStall(svc.brokers, topic, pipeline, rate, stallSeconds);
      result.memory.steadyRssMiB = samples.steady / 1048576;
      result.memory.stallRssMiB = samples.stall / 1048576;
      result.memory.stallSeconds = stallSeconds;
      log(
        `stall: steady ${result.memory.steadyRssMiB.toFixed(0)} MiB, during a ${stallSeconds} s ClickHouse stall ${result.memory.stallRssMiB.toFixed(0)} MiB`,
      );
    }
    await client.close();
  }
  sampleRss();
  result.memory.peakRssMiB = Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 1048576;

  result.settings.quiet = {
    runs: quietWaits.length,
    medianWaitMs: quietWaits.length > 0 ? median(quietWaits) : 0,
    maxWaitMs: Math.max(0, ...quietWaits),
    notQuiet,
    limitMs: quietLimitMs,
    threshold: quietThreshold,
  };

  mkdirSync(opts.out, { recursive: true });
  const text = writeReport(result, opts.out);
  process.stdout.write(text);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
