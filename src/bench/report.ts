import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ThreadSeconds } from './pipelineRun.js';

export interface BenchResult {
  when: string;
  machine: {
    cpu: string;
    cores: number;
    node: string;
    services: string;
    mallocArenaMax?: string;
    mallocMmapThreshold?: string;
  };
  /** C's worker threads (resolved from `--workers`). */
  workers: number;
  settings: {
    records: number;
    repeats: number;
    partitions: number;
    quick: boolean;
    recordBytes: Record<string, number>;
    /** Rows per insert for B, and C's storage.batchRows (absent in older results: 20,000). */
    batchRows?: number;
    /** B's insert settings per store, those C's sink sends by default (absent in older results: none). */
    bInsertSettings?: Record<string, Record<string, number>>;
    /** B's table's MergeTree settings, those of C's tables (recorded from 2026-12-06 16:30). */
    bTableSettings?: Record<string, Record<string, number>>;
    /** Each A, B and C run waited for a quiet machine first (absent in older results). */
    quiet?: {
      runs: number;
      medianWaitMs: number;
      maxWaitMs: number;
      notQuiet: number;
      limitMs: number;
      /** The busy share a run waited to be under (0-1). */
      threshold: number;
    };
  };
  throughput: {
    store: string;
    format: string;
    a: number;
    b: number;
    c: number;
    cOverA: number;
    cOverB: number;
    /** Feature rows C wrote per record (the last repeat). */
    featureRowsPerRecord: number;
    /** C's inserts in the last repeat: into the output table, and into the feature tables (absent in older results). */
    cInserts?: { output: number; features: number };
  }[];
  latency: {
    store: string;
    load: number;
    rate: number;
    p50Ms: number;
    p99Ms: number;
    flushIntervalMs: number;
  }[];
  /**
   * CPU per record (A, C) or row (B) over the timed parts of all repeats: this process (all its
   * threads, chDB's included), the local Kafka broker and ClickHouse server processes, and the
   * share of the machine's cores that was busy (absent in older results).
   */
  cpu?: {
    store: string;
    format: string;
    run: 'a' | 'b' | 'c';
    selfUs: number;
    kafkaUs?: number;
    clickhouseUs?: number;
    machineBusy: number;
    /** C only: the benchmark process's CPU by thread (ThreadSeconds), µs a record (absent in older results). */
    threadsUs?: ThreadSeconds;
  }[];
  memory: {
    peakRssMiB: number;
    /** Resident memory of this process while a pipeline runs at 50% load, per store. */
    /** fromFilesMiB: of that, mapped from files at the same moment (absent in older results) */
    steady: { store: string; rssMiB: number; fromFilesMiB?: number }[];
    /** The highest resident memory while C caught up at full speed, per store. */
    catchUpPeak: { store: string; rssMiB: number }[];
    steadyRssMiB?: number;
    stallRssMiB?: number;
    stallSeconds?: number;
  };
}

const TARGETS = { json: 0.35, avro: 0.45 };
const n = (x: number, d = 0) =>
  x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const check = (ok: boolean) => (ok ? 'met' : 'MISSED');

/** C's CPU by thread, where the results have it: which thread a faster C would have to unload. */
function threadTable(r: BenchResult): string[] {
  const rows = (r.cpu ?? []).filter((c) => c.threadsUs !== undefined);
  if (rows.length === 0) return [];
  return [
    "C's CPU per record by thread of the benchmark process (µs, over the timed parts; from /proc). Main: kafkajs, the ClickHouse client, the hand-outs to the workers. Lane workers: decoding, transforms, windows, row encoding. V8 and libuv: Node's other threads, i.e. garbage collection and compilation for all threads, and libuv's pool, where chDB runs the embedded store's inserts. Other: the threads chDB's engine starts (merges, parts of queries).",
    '',
    '| store | format | main µs | lane workers µs | V8 and libuv µs | other µs |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...rows.map((c) => {
      const t = c.threadsUs!;
      return `| ${c.store} | ${c.format} | ${n(t.main, 1)} | ${n(t.laneWorkers, 1)} | ${n(t.v8AndLibuv, 1)} | ${n(t.other, 1)} |`;
    }),
    '',
  ];
}

/** Settings per store: `server none; embedded a=1, b=2`. */
function settingsText(settings: Record<string, Record<string, number>>): string {
  return Object.entries(settings)
    .map(([store, set]) => {
      const list = Object.entries(set).map(([k, v]) => `${k}=${v}`);
      return `${store} ${list.length > 0 ? list.join(', ') : 'none'}`;
    })
    .join('; ');
}

/** B's insert and table settings, as C's sink uses them by default (none before they were recorded). */
function bSettingsText(
  inserts: Record<string, Record<string, number>> | undefined,
  tables: Record<string, Record<string, number>> | undefined,
): string {
  return (
    (inserts ? `, with the insert settings C's sink sends (${settingsText(inserts)})` : '') +
    (tables ? `, into a table with the MergeTree settings C's tables get (${settingsText(tables)})` : '')
  );
}

/** Writes <out>/<when>.json, <out>/<when>.md and latest.{json,md} (under <out>/quick for a quick run); returns the markdown. */
export function writeReport(r: BenchResult, out: string): string {
  const lines = [
    `# data-megaservice benchmark, ${r.when}${r.settings.quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, MALLOC_ARENA_MAX=${r.machine.mallocArenaMax ?? 'unset'}, MALLOC_MMAP_THRESHOLD_=${r.machine.mallocMmapThreshold ?? 'unset'}. Services: ${r.machine.services}.`,
    `${n(r.settings.records)} records per topic (JSON ${n(r.settings.recordBytes.json ?? 0)} B, Avro ${n(r.settings.recordBytes.avro ?? 0)} B each), ${r.settings.partitions} partitions, median of ${r.settings.repeats} alternating repeats.`,
    ...(r.settings.quiet
      ? [
          `Each A, B and C run started once the machine's cores were under ${n(r.settings.quiet.threshold * 100)}% busy, so that work the run before left behind (ClickHouse's merges) does not count in it: a wait of ${n(r.settings.quiet.medianWaitMs)} ms median, ${n(r.settings.quiet.maxWaitMs)} ms at most; ${r.settings.quiet.notQuiet} of ${r.settings.quiet.runs} runs started on a busier machine, after waiting ${n(r.settings.quiet.limitMs / 1000)} s.`,
        ]
      : []),
    '',
    `A: bare kafkajs eachBatch counting records. B: bare @clickhouse/client inserts of the same rows, in the pipeline's format and path (RowBinary, as the body of the insert for the server, from a file for the embedded store), ${n(r.settings.batchRows ?? 20_000)} a batch, as C's storage.batchRows${bSettingsText(r.settings.bInsertSettings, r.settings.bTableSettings)}. C: the full pipeline with two windowed feature sets, ${r.workers === 0 ? 'on the main thread only' : `with ${r.workers} worker thread${r.workers === 1 ? '' : 's'}`}; feature rows are those C wrote per record.`,
    '',
    '| store | format | A records/s | B rows/s | C records/s | C/A | C/B | target C/A | feature rows/record | C inserts: output (rows each) + features |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |',
    ...r.throughput.map((t) => {
      const target = TARGETS[t.format as 'json' | 'avro'];
      const ins = t.cInserts;
      const inserts = ins
        ? `${n(ins.output)} (${n(r.settings.records / ins.output)}) + ${n(ins.features)}`
        : '-';
      return `| ${t.store} | ${t.format} | ${n(t.a)} | ${n(t.b)} | ${n(t.c)} | ${n(t.cOverA, 2)} | ${n(t.cOverB, 2)} | ≥ ${target}: ${check(t.cOverA >= target)} | ${n(t.featureRowsPerRecord ?? NaN, 3)} | ${inserts} |`;
    }),
    '',
    ...(r.cpu && r.cpu.length > 0
      ? [
          `CPU per record over the timed parts (µs of CPU time; the benchmark process holds A, B and C and, for the embedded store, chDB; the broker and the server are the local services' processes). Machine busy is the share of all ${r.machine.cores} cores in use, everything on the machine included.`,
          '',
          '| store | format | run | benchmark process µs | Kafka broker µs | ClickHouse server µs | total µs | machine busy |',
          '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |',
          ...r.cpu.map(
            (c) =>
              `| ${c.store} | ${c.format} | ${c.run.toUpperCase()} | ${n(c.selfUs, 1)} | ${c.kafkaUs === undefined ? '-' : n(c.kafkaUs, 1)} | ${c.clickhouseUs === undefined ? '-' : n(c.clickhouseUs, 1)} | ${n(c.selfUs + (c.kafkaUs ?? 0) + (c.clickhouseUs ?? 0), 1)} | ${n(c.machineBusy * 100)}% |`,
          ),
          '',
        ]
      : []),
    ...threadTable(r),
    "Latency and steady memory are measured after a warm-up of a few seconds at the same rate. Percentiles come from the pipeline's event-to-stored histogram (linear within a bucket, as histogram_quantile; buckets 50-250 ms wide up to 3 s, one bound at 1.5 s).",
    '',
    '| store | load | rate/s | p50 event→stored | p99 event→stored | target p99 ≤ flush + 500 ms |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...r.latency.map(
      (l) =>
        `| ${l.store} | ${l.load * 100}% | ${n(l.rate)} | ${n(l.p50Ms)} ms | ${n(l.p99Ms)} ms | ${l.load === 0.5 ? `${l.flushIntervalMs + 500} ms: ${check(l.p99Ms <= l.flushIntervalMs + 500)}` : '-'} |`,
    ),
    '',
    ...r.memory.steady.map(
      (m) =>
        `Steady resident memory, ${m.store} store (the benchmark process while its pipeline runs at 50% load, fed by a load generator in a process of its own): ${n(m.rssMiB)} MiB (target ≤ 512 MiB: ${check(m.rssMiB <= 512)})` +
        (m.fromFilesMiB
          ? `; ${n(m.fromFilesMiB)} MiB of it mapped from files (library code, chDB's engine included when embedded), which the kernel can drop and read again.`
          : '.'),
    ),
    ...(r.memory.catchUpPeak ?? []).map(
      (m) =>
        `Peak resident memory while C caught up at full speed, ${m.store} store: ${n(m.rssMiB)} MiB (not a target).`,
    ),
    `Peak resident memory of the benchmark process over the whole run (A, B and C, and chDB's engine once the embedded store ran): ${n(r.memory.peakRssMiB)} MiB.`,
    r.memory.stallRssMiB !== undefined
      ? `During a ${r.memory.stallSeconds} s ClickHouse stall: ${n(r.memory.stallRssMiB)} MiB vs ${n(r.memory.steadyRssMiB!)} MiB steady (target ≤ 1.5x: ${check(r.memory.stallRssMiB <= 1.5 * r.memory.steadyRssMiB!)}).`
      : 'ClickHouse stall: measured with the server store only (not in this run).',
    '',
  ];
  const md = lines.join('\n');
  const stamp = r.when.replace(/[:.]/g, '-');
  // A quick run is for development: it goes to quick/ (ignored by git) and leaves latest.* to the
  // last full run, the one the README quotes.
  const dir = r.settings.quick ? join(out, 'quick') : out;
  mkdirSync(dir, { recursive: true });
  for (const name of [stamp, 'latest']) {
    writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(r, null, 2)}\n`);
    writeFileSync(join(dir, `${name}.md`), md);
  }
  return md;
}
