import { aggregationColumns, type FeatureSetConfig } from '../config/index.js';
import type { FeatureRow } from '../core/index.js';
import type { ByteWriter } from './byteWriter.js';
import { valueWriter } from './rowBinary.js';
import type { TableSpec } from './schema.js';

/**
 * One table per feature set: a row per (entity, window, source partition), ReplacingMergeTree on a
 * deterministic version (the highest source offset that contributed), so a replayed window replaces
 * itself. Window bounds are DateTime (UTC seconds): window sizes are whole seconds. Sessions start
 * and end at event times, to the millisecond, so their tables also hold the bounds in epoch
 * milliseconds (DateTime64 is not on 18.16) and are keyed by those.
 */
export function featureTableSpec(database: string, fs: FeatureSetConfig): TableSpec {
  const session = fs.window.type === 'session';
  const bounds = session ? 'window_start_ms, window_end_ms' : 'window_start, window_end';
  return {
    database,
    table: fs.name,
    columns: [
      { name: 'entity', type: 'String' },
      { name: 'window_start', type: 'DateTime' },
      { name: 'window_end', type: 'DateTime' },
      ...(session
        ? [
            { name: 'window_start_ms', type: 'UInt64' },
            { name: 'window_end_ms', type: 'UInt64' },
          ]
        : []),
      ...fs.aggregations.flatMap(aggregationColumns),
      { name: 'record_count', type: 'UInt64' },
      { name: 'source_topic', type: 'String' },
      { name: 'source_partition', type: 'UInt32' },
      { name: 'version', type: 'UInt64' },
    ],
    defaulted: ['created_at DateTime DEFAULT now()'],
    engine: `ReplacingMergeTree(version) ORDER BY (entity, ${bounds}, source_topic, source_partition)`,
  };
}

/** Window bounds as epoch seconds: a number is the same instant whatever the server's timezone. */
const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * Writes a feature row in RowBinary, in the order of `featureTableSpec`'s columns: window bounds
 * as epoch seconds (and milliseconds for sessions), aggregates read by name.
 */
export function featureRowWriter(fs: FeatureSetConfig): (w: ByteWriter, row: FeatureRow) => void {
  const read = new Map<string, (row: FeatureRow) => unknown>([
    ['entity', (r) => r.entity],
    ['window_start', (r) => seconds(r.windowStart)],
    ['window_end', (r) => seconds(r.windowEnd)],
    ['window_start_ms', (r) => r.windowStart],
    ['window_end_ms', (r) => r.windowEnd],
    ['record_count', (r) => r.recordCount],
    ['source_topic', (r) => r.topic],
    ['source_partition', (r) => r.partition],
    ['version', (r) => r.version.toString()],
  ]);
  const columns = featureTableSpec('', fs).columns.map((c) => {
    const write = valueWriter(c.type);
    const get = read.get(c.name) ?? ((r: FeatureRow) => r.values[c.name] ?? null);
    return (w: ByteWriter, r: FeatureRow) => write(w, get(r));
  });
  return (w, row) => {
    for (const write of columns) write(w, row);
  };
}

/**
 * `<name>_merged`: one row per (entity, window) whatever the partitions an entity spread over,
 * merging the mergeable aggregates from their partials. Distinct counts and first/last cannot be
 * merged from per-partition values and are left out of the view. Session windows get none: each
 * partition's sessions have their own bounds, so there is nothing to line up.
 */
export function mergedViewSql(database: string, fs: FeatureSetConfig): string | undefined {
  if (fs.window.size === undefined) return undefined;
  const seconds = fs.window.size / 1000;
  const exprs: [string, string][] = [];
  for (const a of fs.aggregations) {
    const n = `sum(_n_${a.name})`;
    const mean = `sum(_sum_${a.name}) / ${n}`;
    const variance = `greatest(0, sum(_sumsq_${a.name}) / ${n} - pow(${mean}, 2))`;
    const expr = {
      count: `sum(${a.name})`,
      sum: `sum(${a.name})`,
      rate: `sum(record_count) / ${seconds}`,
      min: `min(${a.name})`,
      max: `max(${a.name})`,
      avg: `if(${n} = 0, 0, ${mean})`,
      variance: `if(${n} = 0, 0, ${variance})`,
      stddev: `if(${n} = 0, 0, sqrt(${variance}))`,
      count_distinct: undefined,
      approx_count_distinct: undefined,
      first: undefined,
      last: undefined,
    }[a.fn];
    if (expr) exprs.push([expr, a.name]);
  }
  exprs.push(['sum(record_count)', 'record_count']);
  // Aggregate under m_ aliases, rename outside: an alias equal to a column name would make
  // ClickHouse read that column as the alias (an aggregate inside an aggregate).
  return (
    `CREATE VIEW IF NOT EXISTS ${database}.${fs.name}_merged AS\n` +
    `SELECT entity, window_start, window_end, ${exprs.map(([, n]) => `m_${n} AS ${n}`).join(', ')}\n` +
    `FROM (SELECT entity, window_start, window_end, ${exprs.map(([e, n]) => `${e} AS m_${n}`).join(', ')}\n` +
    `  FROM ${database}.${fs.name} FINAL GROUP BY entity, window_start, window_end)`
  );
}
