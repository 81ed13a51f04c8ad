import type { ClickHouseClient } from '@clickhouse/client';
import type { ColumnConfig } from '../config/index.js';
import { PipelineError } from '../core/index.js';
import type { Capabilities } from './capabilities.js';

/** Column types this engine cannot take: a fatal error naming each column, before any table is made. */
export function unsupportedColumns(
  columns: readonly ColumnConfig[],
  caps: Capabilities,
  target: string,
): void {
  // [type in the column's declaration, the engine has it, why not and what to declare instead]
  const limits: [RegExp, boolean, string][] = [
    [/DateTime64/, caps.dateTime64, 'no DateTime64 before ClickHouse 20.1; declare DateTime (seconds)'],
    [/^Map\(/, caps.map, 'no Map before ClickHouse 21.1; declare String and send JSON text'],
    // Rows go in as RowBinary: a Decimal is its scaled integer, not text the engine must read.
    [/Decimal/, caps.decimal, 'no Decimal in this engine; declare Float64 or String'],
  ];
  const problems = limits.flatMap(([type, has, why]) =>
    has ? [] : columns.filter((c) => type.test(c.type)).map((c) => `column ${c.name} ${c.type}: ${why}`),
  );
  if (problems.length > 0) {
    throw new PipelineError(
      'fatal',
      'UNSUPPORTED_TYPE',
      `${target} (ClickHouse ${caps.version}) cannot store ${problems.join('; ')}. Or use a newer server.`,
    );
  }
}

/** Insert settings this engine does not know: a fatal error naming each, before any insert. */
export async function unknownSettings(
  client: ClickHouseClient,
  names: readonly string[],
  caps: Capabilities,
  target: string,
): Promise<void> {
  if (names.length === 0) return;
  const rs = await client.query({
    // Literals: the names passed the config's pattern (lower-case letters, digits and _).
    query: `SELECT name FROM system.settings WHERE name IN (${names.map((n) => `'${n}'`).join(', ')})`,
    format: 'JSONEachRow',
  });
  const known = new Set((await rs.json<{ name: string }>()).map((r) => r.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0)
    throw new PipelineError(
      'fatal',
      'UNKNOWN_SETTING',
      `${target} (ClickHouse ${caps.version}) has no setting ${unknown.map((n) => `storage.insertSettings.${n}`).join(', ')}`,
    );
}
