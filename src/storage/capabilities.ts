import type { ClickHouseClient } from '@clickhouse/client';

export interface Capabilities {
  readonly version: string;
  /** `insert_deduplication_token` (ClickHouse 22.2+); 18.16 rejects it as an unknown setting. */
  readonly insertDeduplicationToken: boolean;
  /**
   * `optimize_on_insert` (ClickHouse 20.12+; 18.16 has neither it nor the merge on insert it turns
   * off): a ReplacingMergeTree insert runs the merge on its own block.
   */
  readonly optimizeOnInsert: boolean;
  /** `non_replicated_deduplication_window` MergeTree setting, needed for dedup on non-replicated tables. */
  readonly nonReplicatedDeduplication: boolean;
  /**
   * Settings a CREATE TABLE needs for every column type we declare: 18.16 creates LowCardinality
   * columns only with allow_experimental_low_cardinality_type, which current engines no longer know.
   */
  readonly createSettings: Readonly<Record<string, number>>;
  /** The DateTime64 type (ClickHouse 20.1+; not 18.16). */
  readonly dateTime64: boolean;
  /** The Map type (ClickHouse 21.1+; not 18.16). */
  readonly map: boolean;
  /** The Decimal types (ClickHouse 18.12+; 18.16 has them). */
  readonly decimal: boolean;
  /**
   * Decimal read from quoted JSON text, digit for digit (current engines); 18.16 reads Decimal only
   * from JSON numbers, which cannot carry every digit.
   */
  readonly decimalText: boolean;
}

async function exists(client: ClickHouseClient, query: string): Promise<boolean> {
  try {
    const rs = await client.query({ query, format: 'JSONEachRow' });
    return (await rs.json()).length > 0;
  } catch {
    return false; // the system table itself is missing on old servers
  }
}

/** Ask the server what it supports instead of guessing from the version string. */
export async function detectCapabilities(client: ClickHouseClient): Promise<Capabilities> {
  const rs = await client.query({ query: 'SELECT version() AS version', format: 'JSONEachRow' });
  const [{ version }] = (await rs.json<{ version: string }>()) as [{ version: string }];
  return {
    version,
    insertDeduplicationToken: await exists(
      client,
      "SELECT name FROM system.settings WHERE name = 'insert_deduplication_token'",
    ),
    optimizeOnInsert: await exists(
      client,
      "SELECT name FROM system.settings WHERE name = 'optimize_on_insert'",
    ),
    nonReplicatedDeduplication: await exists(
      client,
      "SELECT name FROM system.merge_tree_settings WHERE name = 'non_replicated_deduplication_window'",
    ),
    createSettings: (await exists(
      client,
      "SELECT name FROM system.settings WHERE name = 'allow_experimental_low_cardinality_type'",
    ))
      ? { allow_experimental_low_cardinality_type: 1 }
      : {},
    dateTime64: await exists(client, "SELECT name FROM system.data_type_families WHERE name = 'DateTime64'"),
    map: await exists(client, "SELECT name FROM system.data_type_families WHERE name = 'Map'"),
    decimal: await exists(client, "SELECT name FROM system.data_type_families WHERE name = 'Decimal128'"),
    decimalText: await exists(
      client,
      `SELECT d FROM format(JSONEachRow, 'd Decimal(38, 20)', '{"d":"12345678901234567.12345678901234567891"}') WHERE toString(d) = '12345678901234567.12345678901234567891'`,
    ),
  };
}

/**
 * Insert settings the pipeline sends unless `storage.insertSettings` sets them: `optimize_on_insert
 * = 0` where the engine has it. Otherwise a ReplacingMergeTree insert first merges its own block,
 * copying every row column by column to collapse equal keys within it. The pipeline's inserts hold
 * none: a record is stored once (its topic, partition and offset are the key), a window is written
 * once, and what a replay writes again comes in a later insert, which the background merges and
 * FINAL collapse as before. So it was pure cost: 55,000 rows of the benchmark's output table took
 * chDB 550-580 ns of CPU a row without it, 720-750 with it (4 alternations of 15 inserts). 18.16
 * has neither the setting nor the merge on insert.
 */
export function defaultInsertSettings(caps: Capabilities): Record<string, number> {
  return caps.optimizeOnInsert ? { optimize_on_insert: 0 } : {};
}

/**
 * MergeTree settings of the tables the pipeline creates. `non_replicated_deduplication_window`
 * where the engine has it, for the deduplication of retried inserts. For the embedded engine, whose
 * memory is the pipeline's own, every merge into a wide part is vertical: one column at a time
 * after the key, instead of all columns of all parts at once, which ClickHouse does below 131,072
 * rows or 11 columns. With the benchmark's table, chDB's memory tracker peaked at 34-49 MiB in
 * a pipeline at 115,000 records/s instead of 94-148, and the process's highest resident memory over
 * 30 s was 514-517 against 545-574 MiB, at the same CPU (three alternated pairs). A server keeps
 * ClickHouse's defaults: its memory is not the pipeline's, and its operator tunes its merges.
 */
export function defaultTableSettings(caps: Capabilities, embedded: boolean): Record<string, number> {
  return {
    ...(caps.nonReplicatedDeduplication ? { non_replicated_deduplication_window: 1000 } : {}),
    ...(embedded
      ? {
          vertical_merge_algorithm_min_rows_to_activate: 1,
          vertical_merge_algorithm_min_columns_to_activate: 1,
        }
      : {}),
  };
}
