import type { ClickHouseClient } from '@clickhouse/client';

export interface Capabilities {
  readonly version: string;
  /** `insert_deduplication_token` (ClickHouse 22.2+); 18.16 rejects it as an unknown setting. */
  readonly insertDeduplicationToken: boolean;
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
