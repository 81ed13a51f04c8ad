import type { ClickHouseClient } from '@clickhouse/client';
import type { ColumnConfig } from '../config/index.js';
import { PipelineError } from '../core/index.js';
import { clickhouseCode } from './classify.js';

/** Columns every output table carries, so each row can be traced to its Kafka record. */
export const SOURCE_COLUMNS: readonly { name: string; type: string }[] = [
  { name: '_topic', type: 'String' },
  { name: '_partition', type: 'UInt32' },
  { name: '_offset', type: 'UInt64' },
  { name: '_timestamp_ms', type: 'UInt64' },
  { name: '_key', type: 'Nullable(String)' },
];

export const DEAD_LETTER_COLUMNS: readonly { name: string; type: string }[] = [
  ...SOURCE_COLUMNS,
  { name: 'stage', type: 'String' },
  { name: 'reason', type: 'String' },
  { name: 'value', type: 'Nullable(String)' },
  { name: 'value_encoding', type: 'String' },
  { name: 'headers', type: 'String' },
];

/** `Bool` is stored as UInt8 so the same DDL works on 18.16 and current servers. */
export function storedType(type: string): string {
  // As ClickHouse names types (system.columns), so an existing table is recognised.
  return type
    .replace(/\bBool\b/, 'UInt8')
    .replace(/Decimal\((\d+), ?(\d+)\)/, 'Decimal($1, $2)')
    .replace(/^Map\(([^,]+), ?/, 'Map($1, ')
    .replace(/DateTime64\((\d), ?'/, "DateTime64($1, '");
}

export interface TableSpec {
  readonly database: string;
  readonly table: string;
  readonly columns: readonly { name: string; type: string }[];
  /** Engine and key; default: ReplacingMergeTree keyed by source position. */
  readonly engine?: string;
  /** Column definitions with defaults, filled by ClickHouse (not checked for fit). */
  readonly defaulted?: readonly string[];
}

export function outputTableSpec(
  database: string,
  table: string,
  columns: readonly ColumnConfig[],
): TableSpec {
  return {
    database,
    table,
    columns: [...SOURCE_COLUMNS, ...columns.map((c) => ({ name: c.name, type: storedType(c.type) }))],
  };
}

export function deadLetterTableSpec(database: string, table: string): TableSpec {
  return {
    database,
    table,
    columns: DEAD_LETTER_COLUMNS,
    // One record can be dead-lettered more than once (late for two feature sets): the key keeps both,
    // while a replayed dead letter (same record, same reason) still replaces itself.
    engine: 'ReplacingMergeTree ORDER BY (_topic, _partition, _offset, stage, reason)',
  };
}

/**
 * ReplacingMergeTree keyed by source position: a record stored twice (a replay after a crash) is one
 * row after merges, and `FINAL` collapses it at query time. Plain SQL that 18.16 accepts.
 */
export function createTableSql(spec: TableSpec, settings: Record<string, number> = {}): string {
  const cols = spec.columns.map((c) => `  ${c.name} ${c.type}`).join(',\n');
  const s = Object.entries(settings).map(([k, v]) => `${k} = ${v}`);
  const defaulted = (spec.defaulted ?? ['_inserted_at DateTime DEFAULT now()'])
    .map((d) => `  ${d}`)
    .join(',\n');
  return (
    `CREATE TABLE IF NOT EXISTS ${spec.database}.${spec.table} (\n${cols},\n${defaulted}\n)\n` +
    `ENGINE = ${spec.engine ?? 'ReplacingMergeTree ORDER BY (_topic, _partition, _offset)'}` +
    (s.length > 0 ? `\nSETTINGS ${s.join(', ')}` : '')
  );
}

/** Create the database and table if needed, then check an existing table fits what we will insert. */
export async function bootstrapTable(
  client: ClickHouseClient,
  spec: TableSpec,
  settings: Record<string, number> = {},
  /** query settings the CREATE needs (`Capabilities.createSettings`) */
  createSettings: Readonly<Record<string, number>> = {},
  /** add the columns an existing table lacks (`output.addColumns`), instead of refusing it */
  addMissing?: (column: { name: string; type: string }) => void,
): Promise<void> {
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${spec.database}` });
  await client.command({ query: createTableSql(spec, settings), clickhouse_settings: { ...createSettings } });
  let { missing, wrong } = await fit(client, spec);
  if (addMissing && missing.length > 0 && wrong.length === 0) {
    for (const c of missing) {
      try {
        await client.command({
          query: `ALTER TABLE ${spec.database}.${spec.table} ADD COLUMN ${c.name} ${c.type}`,
          clickhouse_settings: { ...createSettings },
        });
        addMissing(c);
      } catch (err) {
        // Another instance starting at the same time may have added it: the check below says.
        if (!EXISTING_COLUMN.includes(clickhouseCode(err) ?? 0)) throw err;
      }
    }
    ({ missing, wrong } = await fit(client, spec));
  }
  const problems = [...missing.map((c) => `column ${c.name} is missing (expected ${c.type})`), ...wrong];
  if (problems.length > 0) {
    const add =
      missing.length > 0 && !addMissing ? ', or set output.addColumns: true to add the missing ones' : '';
    throw new PipelineError(
      'fatal',
      'TABLE_MISMATCH',
      `existing table ${spec.database}.${spec.table} does not fit the output definition: ${problems.join('; ')}. ` +
        `Drop or rename the table, or change output.columns to match it${add}.`,
    );
  }
}

/** ClickHouse's codes for ADD COLUMN of a column that exists: DUPLICATE_COLUMN, ILLEGAL_COLUMN. */
const EXISTING_COLUMN = [15, 44];

/** The declared columns an existing table lacks, and those it has with another type. */
async function fit(
  client: ClickHouseClient,
  spec: TableSpec,
): Promise<{ missing: { name: string; type: string }[]; wrong: string[] }> {
  const rs = await client.query({
    // Literals, not query parameters: 18.16 has no {name:Type} parameters. Both names passed the
    // identifier check of the config schema, so they cannot break out of the quotes.
    query: `SELECT name, type FROM system.columns WHERE database = '${spec.database}' AND table = '${spec.table}'`,
    format: 'JSONEachRow',
  });
  const existing = new Map((await rs.json<{ name: string; type: string }>()).map((c) => [c.name, c.type]));
  const missing: { name: string; type: string }[] = [];
  const wrong: string[] = [];
  for (const c of spec.columns) {
    const have = existing.get(c.name);
    if (have === undefined) missing.push(c);
    else if (have !== c.type) wrong.push(`column ${c.name} is ${have}, expected ${c.type}`);
  }
  return { missing, wrong };
}
