import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export type ModuleName = 'ingestion' | 'transformation' | 'extraction' | 'storage';

/** Per-module metrics, one registry per pipeline (no module-level state). */
export interface Telemetry {
  readonly registry: Registry;
  readonly recordsIn: Counter<'module'>;
  readonly recordsOut: Counter<'module'>;
  readonly recordsRejected: Counter<'module'>;
  readonly recordsFiltered: Counter<'module'>;
  readonly deadLettered: Counter;
  readonly featureRows: Counter<'feature_set'>;
  readonly retries: Counter<'module'>;
  /** Offset commits sent to Kafka, by result (`ok`, `failed`). */
  readonly offsetCommits: Counter<'result'>;
  /** Inserts ClickHouse acknowledged, by table (`database.table`). */
  readonly inserts: Counter<'table'>;
  readonly batchSeconds: Histogram<'module'>;
  /** Kafka timestamp to stored, every 4th row (the benchmark's latency). */
  readonly eventToStoredSeconds: Histogram;
}

/** The part of Telemetry a stage's guard counts into (a worker thread records it to send home). */
export interface StageMeter {
  readonly recordsIn: ModuleCount;
  readonly recordsOut: ModuleCount;
  readonly recordsRejected: ModuleCount;
  readonly recordsFiltered: ModuleCount;
  readonly batchSeconds: { observe(labels: { module: ModuleName }, seconds: number): void };
}
interface ModuleCount {
  inc(labels: { module: ModuleName }, value: number): void;
}

/** 50-250 ms wide up to 3 s, around the default flush interval (1 s) and its +500 ms latency target. */
const EVENT_TO_STORED_BUCKETS = [
  0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2, 2.5, 3,
  4, 5, 7.5, 10, 15, 30, 60, 120, 300,
];

/**
 * The q-quantile of a histogram, as Prometheus' histogram_quantile computes it: linear within the
 * bucket it falls in (so it is exact only at bucket bounds). NaN when empty.
 */
export function histogramQuantile(q: number, buckets: readonly { le: number; count: number }[]): number {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return lower; // past the last bound: its value, as Prometheus does
      return lower + ((b.le - lower) * (rank - below)) / (b.count - below);
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}

let processMetrics: Registry | undefined;

/**
 * prom-client's process metrics (process_resident_memory_bytes, event-loop lag, GC), what the memory
 * bound is checked against: one registry per process, as they describe the process. Registered per
 * pipeline, each left a GC observer and an event-loop monitor running after the pipeline stopped,
 * and they held its registry, and through the gauges' callbacks the whole pipeline, in memory.
 */
export function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** What /metrics serves for a pipeline: the process's metrics and the pipeline's. */
export function servedRegistry(telemetry: Telemetry): Registry {
  return Registry.merge([processRegistry(), telemetry.registry]);
}

/** The cumulative buckets of an unlabelled histogram, for histogramQuantile. */
export async function histogramBuckets(h: Histogram): Promise<{ le: number; count: number }[]> {
  const { values } = await h.get();
  return values
    .filter((v) => v.metricName?.endsWith('_bucket'))
    .map((v) => ({ le: v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), count: v.value }));
}

export function createTelemetry(): Telemetry {
  const registry = new Registry();
  return {
    registry,
    recordsIn: new Counter({
      name: 'megaservice_records_in_total',
      help: 'Records a module received',
      labelNames: ['module'],
      registers: [registry],
    }),
    recordsOut: new Counter({
      name: 'megaservice_records_out_total',
      help: 'Records a module passed on (for storage: rows inserted into the output table)',
      labelNames: ['module'],
      registers: [registry],
    }),
    recordsRejected: new Counter({
      name: 'megaservice_records_rejected_total',
      help: 'Records a module rejected (they go to the dead-letter path with a reason)',
      labelNames: ['module'],
      registers: [registry],
    }),
    recordsFiltered: new Counter({
      name: 'megaservice_records_filtered_total',
      help: 'Records a filter step dropped on purpose',
      labelNames: ['module'],
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'megaservice_dead_lettered_total',
      help: 'Records written to the dead-letter path (table, and topic when configured)',
      registers: [registry],
    }),
    featureRows: new Counter({
      name: 'megaservice_feature_rows_total',
      help: 'Rows of closed windows written to a feature set table',
      labelNames: ['feature_set'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'megaservice_retries_total',
      help: 'Retried attempts after retryable errors',
      labelNames: ['module'],
      registers: [registry],
    }),
    offsetCommits: new Counter({
      name: 'megaservice_offset_commits_total',
      help: 'Offset commits sent to Kafka, by result (a lane commits only when its commit point moved)',
      labelNames: ['result'],
      registers: [registry],
    }),
    // Each insert makes a part in MergeTree: too many a second and ClickHouse refuses them ("too many
    // parts"). With the rows counters, this gives the rows per insert that batchRows and
    // flushIntervalMs tune.
    inserts: new Counter({
      name: 'megaservice_storage_inserts_total',
      help: 'Inserts ClickHouse acknowledged, by table (retried attempts count once; halves of a chunk split to isolate a bad row count each)',
      labelNames: ['table'],
      registers: [registry],
    }),
    // A histogram, not a summary: replicas in a consumer group add up (histogram_quantile over the
    // sum), and an observation costs 0.3 µs against 2.9 µs for prom-client's summary (five t-digests).
    eventToStoredSeconds: new Histogram({
      name: 'megaservice_event_to_stored_seconds',
      help: 'From the Kafka timestamp of a record to its row being stored (every 4th row)',
      buckets: EVENT_TO_STORED_BUCKETS,
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'megaservice_batch_duration_seconds',
      help: 'Time a module spent on one batch',
      labelNames: ['module'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}

/** The current value of a counter for one module (for tests and the demo summary). */
export async function counterValue(counter: Counter<'module'>, module: ModuleName): Promise<number> {
  const { values } = await counter.get();
  return values.find((v) => v.labels.module === module)?.value ?? 0;
}
